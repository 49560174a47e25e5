// Tenant onboarding (SPEC I2): one deployment per tenant, its parameter file infra/tenants/<id>.json in
// the tenant definition format of sendsecure/core/tenants.py:
//   az deployment group create -g <group> -f infra/tenant.bicep \
//     -p appConfigName=<store> -p tenantDefinition=@infra/tenants/<id>.json
// It writes the definition to App Configuration; the app's timer sync_tenants validates it, creates
// the tenant's phone key and makes the tenant live within about two minutes. No manual step.
// Offboarding is not a deployment: `python -m sendsecure.offboard <id> --yes` (docs/deployment.md).
targetScope = 'resourceGroup'

@description('Name of the App Configuration store of the environment (output appConfigName of main.bicep).')
param appConfigName string

@description('The tenant definition (infra/tenants/<id>.json): id, name, mail_domains, installation_type, domain_book_variant, login_method, security_by_default, entra_tenant_id, administrators (the mailboxes that may read and verify the tenant\'s audit log; without them nobody can). The app validates it; tests/infra validates every file in infra/tenants with the same validator.')
param tenantDefinition object

resource store 'Microsoft.AppConfiguration/configurationStores@2024-05-01' existing = {
  name: appConfigName
}

// Key "tenant.<id>", no label: the app lists "tenant.*" (sendsecure/adapters/appconfig.py).
resource keyValue 'Microsoft.AppConfiguration/configurationStores/keyValues@2024-05-01' = {
  parent: store
  name: 'tenant.${tenantDefinition.id}'
  properties: {
    value: string(tenantDefinition)
    contentType: 'application/json'
    tags: {
      tenant: tenantDefinition.id
    }
  }
}

@description('The key the definition was written under.')
output key string = keyValue.name
