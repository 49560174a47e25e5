// The Function App on the Flex Consumption plan (Python 3.11), running as the user-assigned identity.
// Host settings are identity-based (AzureWebJobsStorage__*); the app's settings come from main.bicep
// with the names of sendsecure/settings.py. No key, password or connection string with a key in any of them.
@description('Azure region of the plan and the app.')
param location string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Name of the Function App (its host name is <name>.azurewebsites.net).')
param name string

@description('Resource id of the user-assigned managed identity the app runs as.')
param identityId string

@description('Client id of that identity.')
param identityClientId string

@description('Blob endpoint of the storage account (host storage and the deployment package).')
param blobEndpoint string

@description('Name of the blob container the plan deploys the app package from.')
param deploymentContainerName string

@description('Connection string of Application Insights (no key: ingestion is Entra-only).')
param appInsightsConnectionString string

@description('The app\'s own settings, named as in sendsecure/settings.py (built in main.bicep).')
param appSettings object

@description('Origins allowed to call the API from a browser (the add-in\'s pages).')
param allowedOrigins array

@description('Most instances the plan scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@description('Memory of one instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('Instances kept warm for HTTP calls (0: scale to zero). The add-in\'s on-send check has 5 seconds, start-up included, so production keeps one.')
@minValue(0)
@maxValue(10)
param alwaysReadyHttpInstances int

@description('Tags on the plan and the app.')
param tags object

module plan 'br/public:avm/res/web/serverfarm:0.7.0' = {
  name: 'flex-plan'
  params: {
    name: planName
    location: location
    skuName: 'FC1'
    kind: 'functionapp'
    reserved: true
    zoneRedundant: false
    tags: tags
    enableTelemetry: false
  }
}

// Settings the Functions host reads (not the app): identity-based host storage and telemetry.
var hostSettings = {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: blobEndpoint
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

resource site 'Microsoft.Web/sites@2024-11-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.outputs.resourceId
    httpsOnly: true
    clientCertMode: 'Optional'
    keyVaultReferenceIdentity: identityId // Key Vault references (the mail secret) resolve as this identity
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      cors: {
        allowedOrigins: allowedOrigins
        supportCredentials: false
      }
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        alwaysReady: alwaysReadyHttpInstances == 0 ? [] : [
          {
            name: 'http'
            instanceCount: alwaysReadyHttpInstances
          }
        ]
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

resource settings 'Microsoft.Web/sites/config@2024-11-01' = {
  parent: site
  name: 'appsettings'
  properties: union(hostSettings, appSettings)
}

// No publishing with user name and password (FTP, SCM basic auth): deployments use Entra.
resource ftp 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scm 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

@description('Name of the Function App.')
output name string = site.name

@description('Default host name of the Function App (the API\'s address).')
output defaultHostName string = site.properties.defaultHostName
