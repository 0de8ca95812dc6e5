// The engine's HTTP contract: aliases of the types generated from its OpenAPI
// document (src/api/schema.ts, `npm run api:types`). Only what the document
// does not describe is written here by hand.
import type { components } from '../api/schema';

type Schemas = components['schemas'];

export type Sale = Schemas['SaleDto'];
export type SaleStats = Schemas['SaleStats'];
/** A fair start's draw, on a sale and on its stats: phase, entrants, served, seed. */
export type Draw = Schemas['DrawDto'];
export type Stats = Schemas['Stats'];
export type Health = Schemas['Health'];
export type HealthStatus = Schemas['HealthStatus'];
export type NewSale = Schemas['CreateSaleRequest'];
export type StampedeRequest = Schemas['StampedeRequest'];
export type StampedeAccepted = Schemas['StampedeStarted'];
export type FlushResult = Schemas['FlushResult'];
export type Order = Schemas['OrderDto'];
export type PurchaseRequest = Schemas['PurchaseRequest'];
export type PurchaseAccepted = Schemas['PurchaseAccepted'];
export type ErrorCode = Schemas['ErrorCode'];

/**
 * A `log` event of the SSE stream (`GET /api/admin/events`). Not in the
 * OpenAPI document, which describes that stream only as text/event-stream.
 */
export interface LogEvent {
  id: number;
  at: string;
  /** one of `KINDS` in events.ts, or a newer kind */
  kind: string;
  /** `info`, `warning` or `critical` */
  severity: string;
  message: string;
  sale_id?: string;
}
