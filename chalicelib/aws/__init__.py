"""How the platform reaches AWS: its boto3 clients (clients.py: the function's own, and each
tenant's signed by that tenant's session) and the DynamoDB reads and writes the stores share
(dynamo.py).

The calls themselves are made only by the classes a client is injected into, one per service:
TenantStore, FileStore, TableNames and QueryStore (DynamoDB), ObjectStore (S3), GlueCatalog,
AthenaEngine and CognitoUsers. Besides them, the composition root reads the pagination secret once
per container (services.py), and the API's release check invokes the version it checks and reports
to CodeDeploy (release_check.py). Routes and domain logic never hold a client.
"""
