// Parameters of one environment (copy per environment; no secrets here: pass them on the command line
// or from the pipeline's secrets, e.g. -p graphClientSecret=$GRAPH_CLIENT_SECRET).
using 'main.bicep'

param environmentName = 'prod'
param appVersion = readEnvironmentVariable('APP_VERSION', '0.0.0-local')
param mailTransport = 'graph'
param mailFrom = 'no-reply@sendsecure.example'
param graphTenantId = readEnvironmentVariable('GRAPH_TENANT_ID', '')
param graphClientId = readEnvironmentVariable('GRAPH_CLIENT_ID', '')
param entraApiClientId = readEnvironmentVariable('ENTRA_API_CLIENT_ID', '')
param entraApiAppIdUri = readEnvironmentVariable('ENTRA_API_APP_ID_URI', '')
param entraAddinClientId = readEnvironmentVariable('ENTRA_ADDIN_CLIENT_ID', '')
param recallClientId = readEnvironmentVariable('RECALL_CLIENT_ID', '')
param recallTenantId = readEnvironmentVariable('RECALL_TENANT_ID', '')
param manualUrl = 'https://sendsecure.example/handleiding'
param releaseNotesUrl = 'https://sendsecure.example/release-notes'
param operatorPrincipalId = readEnvironmentVariable('OPERATOR_PRINCIPAL_ID', '')
param deploymentPrincipalId = readEnvironmentVariable('DEPLOYMENT_PRINCIPAL_ID', '')
