import { useState, type FormEvent } from 'react';
import { Plus } from 'lucide-react';
import { emptySaleForm, LIMITS, rangeHint, validateSale, type Errors, type SaleField, type SaleFormValues } from '../lib/validation';
import { fmtDuration } from '../lib/format';
import { fairStartTerms } from '../lib/draw';
import type { NewSale, Sale } from '../lib/types';
import { useAction } from '../hooks/useAction';
import { Field } from './Field';
import { Result } from './Result';

interface Props {
  create: (body: NewSale) => Promise<Sale>;
  onCreated: (sale: Sale) => void;
}

const ORDER: SaleField[] = ['name', 'product', 'price', 'stock', 'perUserLimit', 'paymentWindow', 'startsAt', 'endsAt', 'prequeue', 'fairStart', 'stockBuckets'];

function createdMessage(s: Sale): string {
  const pay = s.payment_window_seconds ? `, ${fmtDuration(s.payment_window_seconds)} to pay` : '';
  const terms = fairStartTerms(s.prequeue_seconds, s.fair_start_seconds);
  const fair = terms ? `, fair start ${terms}` : '';
  const buckets = s.stock_buckets > 1 ? `, ${s.stock_buckets} stock buckets` : '';
  return `Sale “${s.name}” created (${s.status}, ${s.stock} units${pay}${fair}${buckets}).`;
}

export function CreateSaleForm({ create, onCreated }: Props) {
  const [v, setV] = useState<SaleFormValues>(emptySaleForm);
  const [errors, setErrors] = useState<Errors<SaleField>>({});
  const [submitted, setSubmitted] = useState(false);
  const { result, run, busy } = useAction();

  const set = (k: SaleField) => (value: string) => {
    const next = { ...v, [k]: value };
    setV(next);
    if (submitted) setErrors(validateSale(next).errors);
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setSubmitted(true);
    const { errors, body } = validateSale(v);
    setErrors(errors);
    if (!body) {
      const first = ORDER.find((k) => errors[k]);
      if (first) document.getElementById(`sale-${first}`)?.focus();
      return;
    }
    const sale = await run('Creating the sale…', () => create(body), createdMessage);
    if (sale) {
      onCreated(sale);
      setV(emptySaleForm);
      setSubmitted(false);
      setErrors({});
    }
  };

  return (
    <form onSubmit={submit} noValidate aria-label="Create a sale" data-testid="create-sale-form">
      <div className="form-grid">
        <Field id="sale-name" label="Name" value={v.name} onChange={set('name')} error={errors.name} placeholder="Midnight drop" className="wide" />
        <Field id="sale-product" label="Product" value={v.product} onChange={set('product')} error={errors.product} placeholder="Neon sneakers" className="wide" />
        <Field id="sale-price" label="Price" value={v.price} onChange={set('price')} error={errors.price} placeholder="49.99" inputMode="decimal" />
        <Field id="sale-stock" label="Stock" value={v.stock} onChange={set('stock')} error={errors.stock} placeholder="100" inputMode="numeric" hint={`${rangeHint(LIMITS.stock)} units`} />
        <Field id="sale-perUserLimit" label="Per-user limit" value={v.perUserLimit} onChange={set('perUserLimit')} error={errors.perUserLimit} inputMode="numeric" hint={rangeHint(LIMITS.perUserLimit)} />
        <Field
          id="sale-paymentWindow"
          label="Payment window"
          value={v.paymentWindow}
          onChange={set('paymentWindow')}
          error={errors.paymentWindow}
          inputMode="numeric"
          hint={`${rangeHint(LIMITS.paymentWindow)} s · 0 = none`}
          title="Seconds a buyer has to pay once the order is stored; unpaid orders then expire and their units go back on sale. 0: no payment step."
        />
        <Field id="sale-startsAt" label="Starts at (optional)" type="datetime-local" value={v.startsAt} onChange={set('startsAt')} error={errors.startsAt} />
        <Field id="sale-endsAt" label="Ends at (optional)" type="datetime-local" value={v.endsAt} onChange={set('endsAt')} error={errors.endsAt} />
        <Field
          id="sale-prequeue"
          label="Pre-queue"
          value={v.prequeue}
          onChange={set('prequeue')}
          error={errors.prequeue}
          inputMode="numeric"
          hint={`${rangeHint(LIMITS.prequeue)} s before the start`}
          describedBy="sale-draw-hint"
          title={`Purchase attempts from this many seconds before the start enter the opening draw. With the fair start, ${LIMITS.drawWindow} s at most; needs a start time.`}
        />
        <Field
          id="sale-fairStart"
          label="Fair start"
          value={v.fairStart}
          onChange={set('fairStart')}
          error={errors.fairStart}
          inputMode="numeric"
          hint={`${rangeHint(LIMITS.fairStart)} s after the start`}
          describedBy="sale-draw-hint"
          title={`Purchase attempts until this many seconds after the start enter the opening draw. With the pre-queue, ${LIMITS.drawWindow} s at most; needs a start time.`}
        />
        <p className="muted wide" id="sale-draw-hint" style={{ margin: 0, fontSize: 12 }}>
          Buys in this window enter a draw, served in random order · 0 = none
        </p>
        <Field
          id="sale-stockBuckets"
          label="Stock buckets"
          value={v.stockBuckets}
          onChange={set('stockBuckets')}
          error={errors.stockBuckets}
          inputMode="numeric"
          hint={`${rangeHint(LIMITS.stockBuckets)} · 1 = one Redis slot; more spreads a hot sale over cluster masters`}
          title="Redis slots the sale's live stock is split over, so a hot sale sells on several Redis Cluster masters; each buyer's purchases stay in one, so the per-user limit stays exact. No more than the stock. The embedded engine keeps it and sells from one book."
        />
      </div>
      <div className="btn-row" style={{ marginTop: 10 }}>
        <button type="submit" className="btn primary" disabled={busy} data-testid="create-sale">
          <Plus size={15} aria-hidden /> Create sale
        </button>
      </div>
      <Result result={result} testId="create-result" />
    </form>
  );
}
