// Parameters of one environment (copy per environment; no secrets here: pass them on the command line
// or from the pipeline's secrets, e.g. -p graphClientSecret=$GRAPH_CLIENT_SECRET).
// The values marked PLACEHOLDER are the made-up sample's: replace each before the first deployment
// (docs/deployment.md, "Before the first deployment").
using 'main.bicep'

param environmentName = 'prod'
param appVersion = readEnvironmentVariable('APP_VERSION', '0.0.0-local')
param mailTransport = 'graph'
param mailFrom = 'no-reply@sendsecure.example' // PLACEHOLDER: a mailbox of your organisation
param graphTenantId = readEnvironmentVariable('GRAPH_TENANT_ID', '')
param graphClientId = readEnvironmentVariable('GRAPH_CLIENT_ID', '')
param entraApiClientId = readEnvironmentVariable('ENTRA_API_CLIENT_ID', '')
param entraApiAppIdUri = readEnvironmentVariable('ENTRA_API_APP_ID_URI', '')
param entraAddinClientId = readEnvironmentVariable('ENTRA_ADDIN_CLIENT_ID', '')
param recallClientId = readEnvironmentVariable('RECALL_CLIENT_ID', '')
param recallTenantId = readEnvironmentVariable('RECALL_TENANT_ID', '')
param manualUrl = 'https://sendsecure.example/handleiding' // PLACEHOLDER: your users' manual
param releaseNotesUrl = 'https://sendsecure.example/release-notes' // PLACEHOLDER: your release notes
// PLACEHOLDER: the made-up sample book, refused by the app in Azure; name your definition of the real sources.
param domainBookSources = 'domainbook/variants.json'
param operatorPrincipalId = readEnvironmentVariable('OPERATOR_PRINCIPAL_ID', '')
param deploymentPrincipalId = readEnvironmentVariable('DEPLOYMENT_PRINCIPAL_ID', '')
