// App Configuration: where tenant onboarding (infra/tenant.bicep) writes the tenant definitions the
// app's timer sync_tenants reads (docs/deployment.md). Entra only (local auth off); ARM writes the
// key-values with the deploying principal's own data-plane role (pass-through), not with access keys.
@description('Azure region of the store.')
param location string

@description('Name of the store (5-50 characters).')
@minLength(5)
@maxLength(50)
param name string

@description('Tier of the store: free (one per subscription, 1,000 requests a day: the sync needs some 720) or standard (SLA).')
@allowed([
  'free'
  'standard'
])
param skuName string

@description('Tags on the store.')
param tags object

resource store 'Microsoft.AppConfiguration/configurationStores@2024-05-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
  }
  properties: {
    disableLocalAuth: true
    enablePurgeProtection: skuName == 'standard'
    publicNetworkAccess: 'Enabled' // the Flex plan has no virtual network here (docs/deployment.md, checkov skips)
    dataPlaneProxy: {
      authenticationMode: 'Pass-through'
      privateLinkDelegation: 'Disabled'
    }
  }
}

@description('Name of the store (infra/tenant.bicep and role assignments).')
output name string = store.name

@description('Endpoint of the store (TENANT_CONFIG_ENDPOINT).')
output endpoint string = store.properties.endpoint
