/** One till's day: what was sold, what was voided, what was declined. Amounts in øre. */
export interface TillReport {
  till_id: string;
  /** The local date (Europe/Copenhagen), YYYY-MM-DD. */
  date: string;
  products: { product_id: string; name: string; quantity: number; total_ore: number }[];
  sales: { count: number; total_ore: number };
  voids: {
    entry_id: string;
    voids_entry_id: string;
    amount_ore: number;
    reason: string;
    staff_id: string | null;
    at: string;
  }[];
  voids_total_ore: number;
  /** Sales less voids: what the till took. */
  net_ore: number;
  declines: { code: string; count: number }[];
}

export interface ReportRows {
  lines: { product_id: string; name: string; quantity: number; unit_price_ore: number }[];
  sales: { amount_ore: number }[];
  voids: {
    id: string;
    voids_entry_id: string;
    amount_ore: number;
    reason: string;
    staff_id: string | null;
    created_at: string;
  }[];
  declines: { code: string; count: number }[];
}

/**
 * Builds the end-of-day report from the ledger's rows. Products sold count every sale made that
 * day, voided ones included (the void is listed beside them), so the report adds up like a till
 * roll: sales − voids = net.
 */
export function buildTillReport(tillId: string, date: string, rows: ReportRows): TillReport {
  const byProduct = new Map<string, { product_id: string; name: string; quantity: number; total_ore: number }>();
  for (const l of rows.lines) {
    const p = byProduct.get(l.product_id) ?? { product_id: l.product_id, name: l.name, quantity: 0, total_ore: 0 };
    p.quantity += l.quantity;
    p.total_ore += l.quantity * l.unit_price_ore;
    byProduct.set(l.product_id, p);
  }
  const salesTotal = rows.sales.reduce((sum, s) => sum - s.amount_ore, 0);
  const voidsTotal = rows.voids.reduce((sum, v) => sum + v.amount_ore, 0);
  return {
    till_id: tillId,
    date,
    products: [...byProduct.values()].sort((a, b) => b.total_ore - a.total_ore || a.name.localeCompare(b.name, 'da')),
    sales: { count: rows.sales.length, total_ore: salesTotal },
    voids: rows.voids.map((v) => ({
      entry_id: v.id,
      voids_entry_id: v.voids_entry_id,
      amount_ore: v.amount_ore,
      reason: v.reason,
      staff_id: v.staff_id,
      at: v.created_at,
    })),
    voids_total_ore: voidsTotal,
    net_ore: salesTotal - voidsTotal,
    declines: rows.declines,
  };
}
