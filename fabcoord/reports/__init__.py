"""Weekly reports: figures from the ledger and the capabilities, as a PDF, charts and data."""
