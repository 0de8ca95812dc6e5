import type { Health } from './types';

/** Known components first, in this order; any other name follows alphabetically. */
export const KNOWN_COMPONENTS = [
  'gateway',
  'inventory',
  'order',
  'product',
  'redis',
  'rabbitmq',
  'postgres',
  'memory_stock',
  'sqlite',
  'payments',
  'shop_webhooks',
];

export const COMPONENT_LABELS: Record<string, string> = {
  gateway: 'Gateway',
  inventory: 'Inventory',
  order: 'Order processor',
  product: 'Product',
  redis: 'Redis',
  rabbitmq: 'RabbitMQ',
  postgres: 'PostgreSQL',
  postgresql: 'PostgreSQL',
  sqlite: 'SQLite store (embedded)',
  memory_stock: 'In-memory stock (embedded)',
  sweeper: 'In-flight sweeper',
  payments: 'Payments',
  shop_webhooks: 'Shop webhooks',
};

export function componentLabel(name: string): string {
  return COMPONENT_LABELS[name] ?? name.replace(/[_-]+/g, ' ').replace(/\b\w/g, (c) => c.toUpperCase());
}

export interface ComponentRow {
  name: string;
  label: string;
  status: string;
  detail: string;
}

export function orderedComponents(h: Health | null): ComponentRow[] {
  if (!h || !h.components || typeof h.components !== 'object') return [];
  const names = Object.keys(h.components);
  const rank = (n: string) => {
    const i = KNOWN_COMPONENTS.indexOf(n);
    return i === -1 ? KNOWN_COMPONENTS.length : i;
  };
  names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  return names.map((name) => {
    const c = h.components[name] ?? ({} as { status?: string; detail?: string });
    return {
      name,
      label: componentLabel(name),
      status: typeof c.status === 'string' ? c.status : 'unknown',
      detail: typeof c.detail === 'string' ? c.detail : '',
    };
  });
}
