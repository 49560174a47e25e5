// Key Vault for the keys (master key, signing key, one phone key per tenant, service credentials) and
// the mail secret. RBAC only (no access policies), purge protection, audit logs to Log Analytics.
@description('Azure region of the vault.')
param location string

@description('Name of the vault (3-24 characters).')
@minLength(3)
@maxLength(24)
param name string

@description('Days a deleted secret stays recoverable (7-90). Offboarding deletes a tenant\'s phone key; with purge protection it is gone for good only after these days, so the minimum is the default.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int

@description('Resource id of the Log Analytics workspace that receives the vault\'s audit events.')
param workspaceId string

@description('The Graph app registration\'s client secret for sendMail (MAIL_TRANSPORT=graph); empty: set it later with `az keyvault secret set` (docs/deployment.md).')
@secure()
param graphClientSecret string

@description('The SMTP password (MAIL_TRANSPORT=smtp); empty: none, or set it later.')
@secure()
param smtpPassword string

@description('The API registration\'s client secret for the Entra login\'s Graph check (ENTRA_GRAPH_CHECK); empty: none, or set it later.')
@secure()
param entraClientSecret string

@description('The recall registration\'s client secret (RECALL_CLIENT_SECRET); empty: none, or set it later.')
@secure()
param recallClientSecret string

@description('When the secrets given here expire (Unix time); rotate before then (docs/deployment.md).')
param secretExpiresOn int

@description('Tags on the vault.')
param tags object

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled' // the Flex plan has no virtual network here (docs/deployment.md, checkov skips)
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource graphSecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = if (!empty(graphClientSecret)) {
  parent: vault
  name: 'graph-client-secret'
  properties: {
    value: graphClientSecret
    contentType: 'text/plain'
    attributes: {
      enabled: true
      exp: secretExpiresOn
    }
  }
}

resource smtpSecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = if (!empty(smtpPassword)) {
  parent: vault
  name: 'smtp-password'
  properties: {
    value: smtpPassword
    contentType: 'text/plain'
    attributes: {
      enabled: true
      exp: secretExpiresOn
    }
  }
}

resource entraSecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = if (!empty(entraClientSecret)) {
  parent: vault
  name: 'entra-client-secret'
  properties: {
    value: entraClientSecret
    contentType: 'text/plain'
    attributes: {
      enabled: true
      exp: secretExpiresOn
    }
  }
}

resource recallSecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = if (!empty(recallClientSecret)) {
  parent: vault
  name: 'recall-client-secret'
  properties: {
    value: recallClientSecret
    contentType: 'text/plain'
    attributes: {
      enabled: true
      exp: secretExpiresOn
    }
  }
}

resource audit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'vault-audit'
  scope: vault
  properties: {
    workspaceId: workspaceId
    logs: [
      { categoryGroup: 'audit', enabled: true }
    ]
  }
}

@description('Name of the vault.')
output name string = vault.name

@description('URI of the vault (KEY_VAULT_URL).')
output uri string = vault.properties.vaultUri
