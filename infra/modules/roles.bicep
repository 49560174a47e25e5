// Every role assignment of the deployment, here and nowhere else. Each is named
// guid(scope, principal, role), so a redeployment finds the same assignment, and each is scoped as
// narrowly as the code allows (docs/deployment.md has the table).
@description('Name of the storage account.')
param storageAccountName string

@description('Name of the Key Vault.')
param keyVaultName string

@description('Name of the App Configuration store.')
param appConfigName string

@description('Name of the Application Insights component.')
param appInsightsName string

@description('Principal (object) id of the Function App\'s user-assigned identity.')
param appPrincipalId string

@description('Principal id of the operators (an Entra group, best) who run provisioning, key rotation and offboarding; empty: none.')
param operatorPrincipalId string

@description('Kind of the operators\' principal.')
@allowed([
  'Group'
  'User'
  'ServicePrincipal'
])
param operatorPrincipalType string

@description('Principal id of the pipeline\'s identity, which writes tenant definitions to App Configuration (pass-through) and runs provisioning; empty: none.')
param deploymentPrincipalId string

var role = {
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  appConfigurationDataReader: '516239f1-63e1-4d78-a4de-a74fb236a071'
  appConfigurationDataOwner: '5ae67dd6-50cb-40e7-96ff-dc2bfa4b606b'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource account 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: storageAccountName
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2024-01-01' existing = {
  parent: account
  name: 'default'
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2024-01-01' existing = {
  parent: account
  name: 'default'
}

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: keyVaultName
}

resource store 'Microsoft.AppConfiguration/configurationStores@2024-05-01' existing = {
  name: appConfigName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

// The app reads keys and creates the phone key of a newly onboarded tenant (the tenant sync), but
// never deletes or purges one: no built-in role is exactly that (Secrets User cannot create, Secrets
// Officer can delete), so this one is defined here.
resource keyProvisioner 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'sendsecure-key-reader-and-creator')
  properties: {
    roleName: 'Send Secure key reader and creator (${resourceGroup().name})'
    description: 'Read secrets and create new ones or new versions; no delete, no purge, no backup.'
    type: 'CustomRole'
    assignableScopes: [
      resourceGroup().id
    ]
    permissions: [
      {
        actions: []
        notActions: []
        dataActions: [
          'Microsoft.KeyVault/vaults/secrets/getSecret/action'
          'Microsoft.KeyVault/vaults/secrets/readMetadata/action'
          'Microsoft.KeyVault/vaults/secrets/setSecret/action'
        ]
        notDataActions: []
      }
    ]
  }
}

var operators = empty(operatorPrincipalId) ? [] : [operatorPrincipalId]
var deployers = empty(deploymentPrincipalId) ? [] : [deploymentPrincipalId]

// Tables: the app, the operators (provision, offboard) and the pipeline (provision at each release)
// read and write rows and create missing tables.
// Scope: the table service, not the account (no blob, queue or file access through this role).
var appAssignment = [
  {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
]
var operatorAssignments = [for p in operators: {
  principalId: p
  principalType: operatorPrincipalType
}]
var deployerAssignments = [for p in deployers: {
  principalId: p
  principalType: 'ServicePrincipal'
}]
var tableAssignments = concat(appAssignment, operatorAssignments, deployerAssignments)

resource tableRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for a in tableAssignments: {
  name: guid(tableService.id, a.principalId, role.storageTableDataContributor)
  scope: tableService
  properties: {
    principalId: a.principalId
    principalType: a.principalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.storageTableDataContributor)
  }
}]

// Host storage (timer leases, host keys) and the deployment package: the blob service only.
resource hostBlobRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(blobService.id, appPrincipalId, role.storageBlobDataOwner)
  scope: blobService
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.storageBlobDataOwner)
  }
}

// The app (phone keys of new tenants) and the pipeline (`python -m sendsecure.provision` at each
// release: the master and signing keys) create keys; neither can delete one.
var keyCreators = concat(appAssignment, deployerAssignments)

resource keyCreatorRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for a in keyCreators: {
  name: guid(vault.id, a.principalId, keyProvisioner.id)
  scope: vault
  properties: {
    principalId: a.principalId
    principalType: a.principalType
    roleDefinitionId: keyProvisioner.id
  }
}]

// Key Vault Secrets Officer only where keys are destroyed and rotated: the operators.
resource operatorKeyRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for p in operators: {
  name: guid(vault.id, p, role.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    principalId: p
    principalType: operatorPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.keyVaultSecretsOfficer)
  }
}]

resource appConfigReadRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(store.id, appPrincipalId, role.appConfigurationDataReader)
  scope: store
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.appConfigurationDataReader)
  }
}

// Writing tenant definitions (the pipeline, through ARM pass-through) and deleting one (offboarding).
var configWriters = concat(deployerAssignments, operatorAssignments)

resource appConfigWriteRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for a in configWriters: {
  name: guid(store.id, a.principalId, role.appConfigurationDataOwner)
  scope: store
  properties: {
    principalId: a.principalId
    principalType: a.principalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.appConfigurationDataOwner)
  }
}]

// Telemetry with an Entra token (Application Insights has local auth off).
resource telemetryRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, appPrincipalId, role.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.monitoringMetricsPublisher)
  }
}
