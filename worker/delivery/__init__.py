"""Delivery: the images encoded and stored (S3 or files), the result, and the signed webhooks."""
