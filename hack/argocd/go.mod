// Module that tests deploy/argocd/health-connectorinfo.lua with the Lua
// interpreter Argo CD embeds. Only the Go module proxy is needed:
//   cd hack/argocd && go test ./...
module appflow-connector-operator/hack/argocd

go 1.24.0

require github.com/yuin/gopher-lua v1.1.2
