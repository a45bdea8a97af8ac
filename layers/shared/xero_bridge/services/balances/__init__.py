"""Off balance (C7): keep each customer's balance current from the records stream, re-fetch on demand."""
