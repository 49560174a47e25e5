// The Function App's user-assigned managed identity (one identity for the host and the app).
@description('Azure region of the identity.')
param location string

@description('Name of the user-assigned managed identity.')
param name string

@description('Tags on the identity.')
param tags object

module identity 'br/public:avm/res/managed-identity/user-assigned-identity:0.6.0' = {
  name: 'app-identity'
  params: {
    name: name
    location: location
    tags: tags
    enableTelemetry: false
  }
}

@description('Resource id of the identity.')
output resourceId string = identity.outputs.resourceId

@description('Object (principal) id of the identity, for role assignments.')
output principalId string = identity.outputs.principalId

@description('Client id of the identity: AZURE_CLIENT_ID and AzureWebJobsStorage__clientId.')
output clientId string = identity.outputs.clientId
