// Send Secure back end: everything one environment needs (SPEC I1). Deploy with
//   az deployment group create -g <group> -f infra/main.bicep -p infra/main.bicepparam
// Tenants are separate deployments of infra/tenant.bicep (docs/deployment.md).
targetScope = 'resourceGroup'

@description('Azure region of the resources (the add-in\'s static site has its own, addinLocation).')
param location string = resourceGroup().location

@description('Short name of the environment, part of every resource name: 2-8 lower-case letters and digits (e.g. prod, test).')
@minLength(2)
@maxLength(8)
param environmentName string

@description('Region of the add-in\'s static web app (Static Web Apps runs in fewer regions).')
param addinLocation string = 'westeurope'

@description('Tier of the add-in\'s static web app.')
@allowed([
  'Free'
  'Standard'
])
param addinSku string = 'Standard'

@description('A custom domain of the add-in (e.g. addin.sendsecure.example), allowed as a CORS origin; empty: none.')
param addinCustomDomain string = ''

@description('Version of the app being deployed (the release tag), reported by health (APP_VERSION).')
param appVersion string

@description('How login codes are mailed (MAIL_TRANSPORT): graph (sendMail with an app registration) or smtp.')
@allowed([
  'graph'
  'smtp'
])
param mailTransport string = 'graph'

@description('Sender address of login-code mail (MAIL_FROM).')
param mailFrom string

@description('Directory (tenant) id of the app registration that sends mail through Graph (GRAPH_TENANT_ID).')
param graphTenantId string = ''

@description('Client id of that app registration (GRAPH_CLIENT_ID).')
param graphClientId string = ''

@description('Client secret of that app registration; stored in Key Vault, the app setting is a Key Vault reference. Empty: put it there yourself.')
@secure()
param graphClientSecret string = ''

@description('Client id of the API\'s Entra registration (ENTRA_API_CLIENT_ID; output apiClientId of infra/entra/apps.bicep); empty: Entra login off.')
param entraApiClientId string = ''

@description('Application ID URI of the API (ENTRA_API_APP_ID_URI; the apiIdentifierUri given to infra/entra/apps.bicep).')
param entraApiAppIdUri string = ''

@description('Client id of the add-in\'s Entra registration (ENTRA_ADDIN_CLIENT_ID; output addinClientId of infra/entra/apps.bicep).')
param entraAddinClientId string = ''

@description('Check an Entra login\'s account through Graph /me (ENTRA_GRAPH_CHECK); needs entraClientSecret.')
param entraGraphCheck bool = false

@description('Client secret of the API\'s registration for the Graph check (on-behalf-of); stored in Key Vault, the app setting is a Key Vault reference.')
@secure()
param entraClientSecret string = ''

@description('Client id of the recall app registration (RECALL_CLIENT_ID: Graph Mail.ReadWrite, application, scoped by Exchange RBAC; docs/sending.md); empty: recall off.')
param recallClientId string = ''

@description('Entra tenant of the recall token when a tenant definition has no entra_tenant_id (RECALL_TENANT_ID).')
param recallTenantId string = ''

@description('Client secret of the recall registration; stored in Key Vault, the app setting is a Key Vault reference.')
@secure()
param recallClientSecret string = ''

@description('SMTP server (SMTP_HOST), with mailTransport smtp.')
param smtpHost string = ''

@description('SMTP port (SMTP_PORT).')
param smtpPort int = 587

@description('Whether to use STARTTLS (SMTP_STARTTLS).')
param smtpStarttls bool = true

@description('SMTP user name (SMTP_USERNAME); empty: no login.')
param smtpUsername string = ''

@description('SMTP password; stored in Key Vault, the app setting is a Key Vault reference. Empty: none, or put it there yourself.')
@secure()
param smtpPassword string = ''

@description('The deployment\'s time (leave the default); the secrets given here expire a year after it.')
param deploymentTime string = utcNow('u')

@description('When the secrets given here (mail, Entra, recall) expire (Unix time); default a year from now. Rotate before then (docs/deployment.md).')
param secretExpiresOn int = dateTimeToEpoch(dateTimeAdd(deploymentTime, 'P1Y'))

@description('Domain book variant definition the app reads (DOMAIN_BOOK_SOURCES), relative to the package: your definition of the real sources. No default: domainbook/variants.json lists the made-up sample book, which the app refuses in Azure (docs/deployment.md, "Before the first deployment").')
param domainBookSources string

@description('NCRONTAB schedule of the domain book sync (BOOK_SYNC_SCHEDULE; docs/domain-book-sync.md).')
param bookSyncSchedule string = '0 */15 * * * *'

@description('Link to the manual shown in /info (MANUAL_URL).')
param manualUrl string

@description('Link to the release notes shown in /info (RELEASE_NOTES_URL).')
param releaseNotesUrl string

@description('NCRONTAB schedule of the purge of ended sessions and codes (PURGE_SCHEDULE).')
param purgeSchedule string = '0 17 3 * * *'

@description('Principal id of the operators (an Entra group, best): provisioning, key rotation, offboarding. Empty: none.')
param operatorPrincipalId string = ''

@description('Kind of the operators\' principal.')
@allowed([
  'Group'
  'User'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'Group'

@description('Principal id of the pipeline\'s identity (writes tenant definitions to App Configuration). Empty: none.')
param deploymentPrincipalId string = ''

@description('Days a deleted key stays recoverable in Key Vault (7-90); offboarded phone keys are gone for good after it.')
@minValue(7)
@maxValue(90)
param keyVaultSoftDeleteDays int = 7

@description('Tier of the App Configuration store holding the tenant definitions.')
@allowed([
  'free'
  'standard'
])
param appConfigSku string = 'standard'

@description('Days operational logs and telemetry are kept.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 90

@description('Most instances the Function App scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of one Function App instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Function App instances kept warm for HTTP calls (0: scale to zero; the on-send check has 5 s, start-up included).')
@minValue(0)
@maxValue(10)
param alwaysReadyHttpInstances int = 1

@description('Tags on every resource.')
param tags object = {
  application: 'sendsecure'
  environment: environmentName
}

// Names: <kind>-sendsecure-<environment>, and for the global ones a stable suffix from the group.
var env = toLower(environmentName)
var suffix = take(uniqueString(subscription().id, resourceGroup().id, environmentName), 6)
var names = {
  identity: 'id-sendsecure-${environmentName}'
  workspace: 'log-sendsecure-${environmentName}'
  appInsights: 'appi-sendsecure-${environmentName}'
  storage: 'stssec${env}${suffix}'
  keyVault: 'kv-ssec-${env}-${suffix}'
  appConfig: 'appcs-sendsecure-${environmentName}-${suffix}'
  plan: 'asp-sendsecure-${environmentName}'
  functionApp: 'func-sendsecure-${environmentName}-${suffix}'
  addin: 'stapp-sendsecure-${environmentName}'
}
var deploymentContainerName = 'app-package'

// The app's tables: sendsecure/adapters/storage.py TABLE_NAMES (a test keeps the two the same).
var tableNames = [
  'tenants'
  'sessions'
  'logincodes'
  'loginguards'
  'audit'
  'domainbook'
  'domainbookmeta'
  'usersettings'
  'phones'
  'envelopes'
  'envelopeevents'
  'sentmessages'
  'auditseals'
  'mailboxholders'
]

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    location: location
    name: names.identity
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    workspaceName: names.workspace
    appInsightsName: names.appInsights
    retentionInDays: logRetentionDays
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    name: names.storage
    tableNames: tableNames
    deploymentContainerName: deploymentContainerName
    workspaceId: monitoring.outputs.workspaceId
    tags: tags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'key-vault'
  params: {
    location: location
    name: names.keyVault
    softDeleteRetentionInDays: keyVaultSoftDeleteDays
    workspaceId: monitoring.outputs.workspaceId
    graphClientSecret: graphClientSecret
    smtpPassword: smtpPassword
    entraClientSecret: entraClientSecret
    recallClientSecret: recallClientSecret
    secretExpiresOn: secretExpiresOn
    tags: tags
  }
}

module appConfig 'modules/appconfig.bicep' = {
  name: 'app-config'
  params: {
    location: location
    name: names.appConfig
    skuName: appConfigSku
    tags: tags
  }
}

module addin 'modules/addin.bicep' = {
  name: 'addin'
  params: {
    location: addinLocation
    name: names.addin
    sku: addinSku
    tags: tags
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  params: {
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    appConfigName: appConfig.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    appPrincipalId: identity.outputs.principalId
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
    deploymentPrincipalId: deploymentPrincipalId
  }
}

// A Key Vault reference: the app setting names the secret, the platform reads it as the app's identity.
var vaultName = keyVault.outputs.name

// The app's settings, every name as sendsecure/settings.py reads it (tests/infra checks both ways).
// An empty value of a number or a true/false setting means the app's default (docs/operations.md).
var appSettings = {
  // Storage: the table endpoint and the managed identity; never a connection string (it carries the key).
  TABLES_CONNECTION_STRING: ''
  TABLES_ENDPOINT: storage.outputs.tableEndpoint
  AZURE_CLIENT_ID: identity.outputs.clientId
  AZURE_CREDENTIAL: 'managedidentity'
  TABLE_PREFIX: ''
  STORAGE_TIMEOUT_SECONDS: ''
  ON_SEND_DEADLINE_MS: ''
  // Mail for login codes; secrets only as Key Vault references.
  MAIL_TRANSPORT: mailTransport
  MAIL_FROM: mailFrom
  MAIL_OUTBOX_DIR: ''
  MAIL_OUTBOX_LOG_CODES: 'false'
  SMTP_HOST: smtpHost
  SMTP_PORT: string(smtpPort)
  SMTP_STARTTLS: smtpStarttls ? 'true' : 'false'
  SMTP_USERNAME: smtpUsername
  SMTP_PASSWORD: mailTransport == 'smtp' && !empty(smtpUsername) ? '@Microsoft.KeyVault(VaultName=${vaultName};SecretName=smtp-password)' : ''
  GRAPH_TENANT_ID: graphTenantId
  GRAPH_CLIENT_ID: graphClientId
  GRAPH_CLIENT_SECRET: mailTransport == 'graph' ? '@Microsoft.KeyVault(VaultName=${vaultName};SecretName=graph-client-secret)' : ''
  GRAPH_AUTHORITY_HOST: environment().authentication.loginEndpoint
  GRAPH_BASE_URL: environment().graph
  // Entra ID login (SPEC A2, T3; docs/login.md): the registrations of infra/entra/apps.bicep.
  ENTRA_AUTHORITY: environment().authentication.loginEndpoint
  ENTRA_CA_BUNDLE: ''
  ENTRA_API_CLIENT_ID: entraApiClientId
  ENTRA_API_APP_ID_URI: entraApiAppIdUri
  ENTRA_API_SCOPE: 'access_as_user'
  ENTRA_ADDIN_CLIENT_ID: entraAddinClientId
  ENTRA_LEEWAY_SECONDS: ''
  ENTRA_KEYS_MAX_AGE_SECONDS: ''
  ENTRA_KEYS_MIN_REFRESH_SECONDS: ''
  ENTRA_TIMEOUT_SECONDS: ''
  ENTRA_GRAPH_CHECK: entraGraphCheck ? 'true' : 'false'
  ENTRA_CLIENT_SECRET: entraGraphCheck ? '@Microsoft.KeyVault(VaultName=${vaultName};SecretName=entra-client-secret)' : ''
  // Recall after a revoke (SPEC S5; docs/sending.md).
  RECALL_CLIENT_ID: recallClientId
  RECALL_CLIENT_SECRET: empty(recallClientId) ? '' : '@Microsoft.KeyVault(VaultName=${vaultName};SecretName=recall-client-secret)'
  RECALL_TENANT_ID: recallTenantId
  RECALL_MAX_SECONDS: ''
  RECALL_CA_BUNDLE: '' // the system's CAs
  // Keys in Key Vault, through the identity.
  KEY_STORE: 'keyvault'
  LOCAL_KEY_DIR: ''
  KEY_VAULT_URL: keyVault.outputs.uri
  ALLOW_DEVELOPMENT_BACKENDS: 'false'
  // Login, sessions, caches, limits: the app's defaults.
  LOGIN_CODE_TTL_SECONDS: ''
  LOGIN_CODE_MAX_ATTEMPTS: ''
  LOGIN_LOCKOUT_THRESHOLD: ''
  LOGIN_LOCKOUT_SECONDS: ''
  LOGIN_LOCKOUT_MAX_SECONDS: ''
  LOGIN_ISSUE_WINDOW_SECONDS: ''
  LOGIN_ISSUE_LIMIT_PER_MAILBOX: ''
  LOGIN_ISSUE_LIMIT_PER_CLIENT: ''
  LOGIN_MAILBOX_LOCKOUT_THRESHOLD: ''
  LOGIN_ISSUE_LIMIT_PER_MAILBOX_TOTAL: ''
  LOGIN_VERIFY_LIMIT_PER_CLIENT: ''
  SERVICE_AUTH_FAILURE_LIMIT: ''
  SERVICE_AUTH_FAILURE_WINDOW_SECONDS: ''
  REVOKE_REFUSAL_LIMIT: ''
  REVOKE_REFUSAL_WINDOW_SECONDS: ''
  TENANT_CACHE_SECONDS: ''
  SESSION_IDLE_DAYS: ''
  SESSION_ABSOLUTE_DAYS: ''
  SESSION_TOUCH_SECONDS: ''
  SESSION_CACHE_SECONDS: ''
  PHONE_CACHE_SECONDS: ''
  MAX_BODY_BYTES: ''
  MAX_DRAFT_BYTES: ''
  // Domain book, info, housekeeping.
  DOMAIN_BOOK_SOURCES: domainBookSources
  BOOK_CHECK_SECONDS: ''
  BOOK_SYNC_SCHEDULE: bookSyncSchedule
  BOOK_SYNC_CA_BUNDLE: '' // the sources' public CAs (certifi)
  BOOK_SYNC_TIMEOUT_SECONDS: ''
  BOOK_SYNC_MAX_BYTES: ''
  BOOK_SYNC_ATTEMPTS: ''
  BOOK_SYNC_BACKOFF_MS: ''
  BOOK_SYNC_DEADLINE_SECONDS: '' // 90: a run's fetching, under functionTimeout (host.json, 120 s)
  BOOK_MAX_SHRINK_PERCENT: ''
  BOOK_MAX_AGE_HOURS: ''
  BOOK_GRACE_SECONDS: ''
  MANUAL_URL: manualUrl
  RELEASE_NOTES_URL: releaseNotesUrl
  PURGE_SCHEDULE: purgeSchedule
  AUDIT_RETENTION_DAYS: '' // 3650: ten years (NEN 7513 and the audit chain, docs/audit-and-tenants.md)
  APP_VERSION: appVersion
  // Tenants: deployed definitions in App Configuration (infra/tenant.bicep), no files.
  TENANT_DEFINITIONS: ''
  TENANT_CONFIG_ENDPOINT: appConfig.outputs.endpoint
}

var addinOrigins = ['https://${addin.outputs.defaultHostname}']

module functionApp 'modules/functionapp.bicep' = {
  name: 'function-app'
  dependsOn: [
    roles // the identity can reach storage, the vault and the store before the app starts
  ]
  params: {
    location: location
    planName: names.plan
    name: names.functionApp
    identityId: identity.outputs.resourceId
    identityClientId: identity.outputs.clientId
    blobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    appInsightsConnectionString: monitoring.outputs.connectionString
    appSettings: appSettings
    allowedOrigins: empty(addinCustomDomain) ? addinOrigins : concat(addinOrigins, ['https://${addinCustomDomain}'])
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    alwaysReadyHttpInstances: alwaysReadyHttpInstances
    tags: tags
  }
}

@description('Name of the Function App (the pipeline deploys dist/sendsecure.zip to it).')
output functionAppName string = functionApp.outputs.name

@description('The API\'s base address.')
output apiBaseUrl string = 'https://${functionApp.outputs.defaultHostName}/api'

@description('Name of the App Configuration store: pass it to infra/tenant.bicep as appConfigName.')
output appConfigName string = appConfig.outputs.name

@description('Endpoint of the App Configuration store (TENANT_CONFIG_ENDPOINT for operator commands).')
output appConfigEndpoint string = appConfig.outputs.endpoint

@description('URI of the Key Vault (KEY_VAULT_URL for operator commands).')
output keyVaultUri string = keyVault.outputs.uri

@description('Table endpoint (TABLES_ENDPOINT for operator commands).')
output tableEndpoint string = storage.outputs.tableEndpoint

@description('Name of the add-in\'s static web app.')
output addinName string = addin.outputs.name

@description('Address of the add-in\'s pages (the manifest\'s SourceLocation and the SPA redirect).')
output addinHostname string = addin.outputs.defaultHostname
