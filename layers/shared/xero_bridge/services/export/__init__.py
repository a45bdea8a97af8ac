"""The payment export (C8) and its replays (C9): record a payment, choose the bank accounts, send payments
to Xero in batches exactly once, read their status, and "Export back to Xero"."""
