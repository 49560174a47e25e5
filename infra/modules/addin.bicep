// The add-in's static files (task pane, send pop-up, manifest assets) on Azure Static Web Apps:
// HTTPS with a managed certificate, response headers (CSP, HSTS) from staticwebapp.config.json,
// and no storage account opened to the internet (docs/deployment.md has the comparison).
@description('Azure region of the static web app (a region Static Web Apps offers, e.g. westeurope).')
param location string

@description('Name of the static web app.')
param name string

@description('Tier: Free, or Standard for a custom domain with more than the free quota and an SLA.')
@allowed([
  'Free'
  'Standard'
])
param sku string

@description('Tags on the static web app.')
param tags object

module site 'br/public:avm/res/web/static-site:0.9.5' = {
  name: 'addin-site'
  params: {
    name: name
    location: location
    sku: sku
    stagingEnvironmentPolicy: 'Disabled' // no preview copies of the add-in outside the release
    allowConfigFileUpdates: true
    provider: 'None' // files are uploaded by the pipeline, not built from a linked repository
    tags: tags
    enableTelemetry: false
  }
}

@description('Default host name of the add-in\'s site.')
output defaultHostname string = site.outputs.defaultHostname

@description('Name of the static web app (the pipeline uploads to it).')
output name string = site.outputs.name
