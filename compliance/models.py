"""The compliance officer's records. The audit trail itself is `clinicops.audit`."""
