import { useState, type FormEvent } from 'react';
import { Minus, Plus } from 'lucide-react';
import { validateStock, type Errors, type StockField } from '../lib/validation';
import type { Sale } from '../lib/types';
import { useAction } from '../hooks/useAction';
import { Field } from './Field';
import { Result } from './Result';
import { fmtInt } from '../lib/format';

interface Props {
  sale: Sale | null;
  change: (id: string, add: number) => Promise<Sale>;
  onChanged: (sale: Sale) => void;
}

export function StockForm({ sale, change, onChanged }: Props) {
  const [amount, setAmount] = useState('');
  const [errors, setErrors] = useState<Errors<StockField>>({});
  const { result, run, busy } = useAction();
  const disabled = !sale || sale.status === 'ended' || busy;

  const apply = async (direction: 1 | -1) => {
    if (!sale) return;
    const { errors, add } = validateStock(amount, direction, sale.remaining);
    setErrors(errors);
    if (add === undefined) return;
    const updated = await run(
      direction > 0 ? 'Adding stock…' : 'Withdrawing stock…',
      () => change(sale.id, add),
      (s) => `${direction > 0 ? 'Added' : 'Withdrew'} ${fmtInt(Math.abs(add))} units: stock ${fmtInt(s.stock)}, ${fmtInt(s.remaining)} left.`,
    );
    if (updated) {
      onChanged(updated);
      setAmount('');
    }
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    apply(1);
  };

  return (
    <form onSubmit={submit} noValidate aria-label="Change stock" data-testid="stock-form">
      <div className="inline-form">
        <Field
          id="stock-amount"
          label="Units"
          value={amount}
          onChange={setAmount}
          error={errors.amount}
          inputMode="numeric"
          placeholder="10"
          disabled={!sale || sale.status === 'ended'}
          hint={sale ? `stock ${fmtInt(sale.stock)} · ${fmtInt(sale.remaining)} left` : 'select a sale'}
        />
        <div className="btn-row" style={{ paddingTop: 19 }}>
          <button type="submit" className="btn" disabled={disabled} data-testid="stock-add">
            <Plus size={14} aria-hidden /> Add
          </button>
          <button type="button" className="btn" disabled={disabled} onClick={() => apply(-1)} data-testid="stock-withdraw">
            <Minus size={14} aria-hidden /> Withdraw
          </button>
        </div>
      </div>
      <Result result={result} testId="stock-result" />
    </form>
  );
}
