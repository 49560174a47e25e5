// Storage for the app's tables and the Functions host (leases, keys, the deployment package).
// Only Entra (managed identity) access: shared keys are off, so no connection string exists to leak.
@description('Azure region of the account.')
param location string

@description('Name of the storage account (3-24 lower-case letters and digits).')
@minLength(3)
@maxLength(24)
param name string

@description('The app\'s tables (sendsecure/adapters/storage.py TABLE_NAMES; TABLE_PREFIX is empty in Azure).')
param tableNames array

@description('Name of the blob container the Flex Consumption plan deploys the app package from.')
param deploymentContainerName string

@description('Resource id of the Log Analytics workspace that receives the storage logs.')
param workspaceId string

@description('Tags on the account.')
param tags object

resource account 'Microsoft.Storage/storageAccounts@2024-01-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_GZRS' // zone- and geo-redundant; the paired region of West Europe is North Europe (both EU)
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled' // the Flex plan has no virtual network here (docs/deployment.md, checkov skips)
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: { enabled: true, keyType: 'Account' }
        file: { enabled: true, keyType: 'Account' }
        table: { enabled: true, keyType: 'Account' }
        queue: { enabled: true, keyType: 'Account' }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2024-01-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2024-01-01' = {
  parent: account
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2024-01-01' = [for table in tableNames: {
  parent: tableService
  name: table
}]

// Storage read/write/delete logs (who touched which table, from where) go to Log Analytics.
resource tableLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'table-logs'
  scope: tableService
  properties: {
    workspaceId: workspaceId
    logs: [
      { category: 'StorageRead', enabled: true }
      { category: 'StorageWrite', enabled: true }
      { category: 'StorageDelete', enabled: true }
    ]
  }
}

@description('Name of the account.')
output name string = account.name

@description('Blob endpoint (AzureWebJobsStorage__blobServiceUri and the deployment package).')
output blobEndpoint string = account.properties.primaryEndpoints.blob

@description('Table endpoint (TABLES_ENDPOINT).')
output tableEndpoint string = account.properties.primaryEndpoints.table

