"""Reading what the AR platform holds of a Xero organisation (C10): records with their sync trail."""
