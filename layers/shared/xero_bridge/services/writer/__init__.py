"""The writer (C4, C5): the one use case that writes synced records to DynamoDB."""
