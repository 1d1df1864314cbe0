/** An `invoices` row as mysql2 returns it (DECIMAL/BIGINT amounts as strings). */
export interface InvoiceRow {
  seq: string;
  id: string;
  account_id: string | null;
  number: string;
  currency: string;
  amount_due: string;
  amount_paid: string;
  amount_refunded: string;
  amount_disputed: string;
  status: string;
  review_reason: string | null;
  customer_name: string;
  customer_email: string;
  created_at: Date;
  updated_at: Date;
}
