"""The AWS access layer: the only code that talks to boto3."""
