"""The biller's and provider's screens: coding (queue, charge entry), claims, batches, imports."""
