import { useState, type FormEvent } from 'react';
import { Rocket } from 'lucide-react';
import { LIMITS, rangeHint, validateStampede, type Errors, type StampedeField, type StampedeFormValues } from '../lib/validation';
import type { Sale, StampedeAccepted, StampedeRequest } from '../lib/types';
import { useAction } from '../hooks/useAction';
import { Field } from './Field';
import { Result } from './Result';
import { fmtInt } from '../lib/format';

interface Props {
  sale: Sale | null;
  launch: (id: string, body: StampedeRequest) => Promise<StampedeAccepted>;
}

export function StampedeForm({ sale, launch }: Props) {
  const [v, setV] = useState<StampedeFormValues>({ buyers: '500', attempts: '1', quantity: '1' });
  const [errors, setErrors] = useState<Errors<StampedeField>>({});
  const { result, run, busy } = useAction();
  const set = (k: StampedeField) => (value: string) => setV({ ...v, [k]: value });

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!sale) return;
    const { errors, body } = validateStampede(v);
    setErrors(errors);
    if (!body) return;
    await run(
      'Launching the stampede…',
      () => launch(sale.id, body),
      (r) =>
        `Stampede launched: ${fmtInt(r.buyers)} buyers × ${r.attempts_per_buyer} attempt${r.attempts_per_buyer === 1 ? '' : 's'} on “${sale.name}”. Watch the figures.`,
    );
  };

  return (
    <form onSubmit={submit} noValidate aria-label="Launch a stampede" data-testid="stampede-form">
      <div className="form-grid three">
        <Field id="stampede-buyers" label="Buyers" value={v.buyers} onChange={set('buyers')} error={errors.buyers} inputMode="numeric" hint={rangeHint(LIMITS.buyers)} />
        <Field id="stampede-attempts" label="Tries each" value={v.attempts} onChange={set('attempts')} error={errors.attempts} inputMode="numeric" hint={rangeHint(LIMITS.attempts)} />
        <Field id="stampede-quantity" label="Quantity" value={v.quantity} onChange={set('quantity')} error={errors.quantity} inputMode="numeric" hint="units per try" />
      </div>
      <div className="btn-row" style={{ marginTop: 10 }}>
        <button type="submit" className="btn hot" disabled={!sale || busy} data-testid="stampede-launch">
          <Rocket size={15} aria-hidden /> Launch stampede
        </button>
        {sale && sale.status !== 'active' && (
          <span className="muted" style={{ alignSelf: 'center' }}>
            sale is {sale.status.replace('_', ' ')}: buyers will be turned away
          </span>
        )}
      </div>
      <Result result={result} testId="stampede-result" />
    </form>
  );
}
