"""xero-bridge shared layer: Xero client, models, domain rules, services and AWS adapters."""
