"""AWS adapters: DynamoDB repository, KMS token cipher, Step Functions starter, secrets, boto3 clients."""
