// Tests deploy/argocd/health-connectorinfo.lua the way Argo CD runs a custom
// health check: gopher-lua (the interpreter Argo CD embeds), the object as
// the global `obj`, the script's returned table read as {status, message}.
// The testdata objects were written by the operator (against the AppFlow
// emulator); the other cases are derived from them.
//
//	cd hack/argocd && go test ./...
package argocd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

const script = "../../deploy/argocd/health-connectorinfo.lua"

type health struct{ status, message string }

// run evaluates the health script for one object.
func run(t *testing.T, obj map[string]any) health {
	t.Helper()
	source, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	// Argo CD opens only a few safe libraries; so do we.
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.StringLibName, lua.OpenString}, {lua.MathLibName, lua.OpenMath}} {
		l.Push(l.NewFunction(lib.open))
		l.Push(lua.LString(lib.name))
		l.Call(1, 0)
	}
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(string(source)); err != nil {
		t.Fatalf("script failed: %v", err)
	}
	table, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("script returned %s, want a table", l.Get(-1).Type())
	}
	return health{
		status:  lua.LVAsString(table.RawGetString("status")),
		message: lua.LVAsString(table.RawGetString("message")),
	}
}

// toLua converts decoded JSON as Argo CD converts an unstructured object.
func toLua(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []any:
		table := l.NewTable()
		for _, item := range v {
			table.Append(toLua(l, item))
		}
		return table
	case map[string]any:
		table := l.NewTable()
		for key, item := range v {
			table.RawSetString(key, toLua(l, item))
		}
		return table
	default:
		panic("unexpected JSON value")
	}
}

func load(t *testing.T, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

func TestHealth(t *testing.T) {
	cases := []struct {
		name    string
		obj     func(t *testing.T) map[string]any
		status  string
		message string
	}{
		{"ready", func(t *testing.T) map[string]any { return load(t, "ready") },
			"Healthy", "Described: DescribeConnector returned the configuration of Salesforce"},
		{"requirements not met", func(t *testing.T) map[string]any { return load(t, "requirements-not-met") },
			"Degraded", "RequirementsNotMet: Requirements not met: auth mode ApiKey is not supported"},
		{"connector not found", func(t *testing.T) map[string]any { return load(t, "connector-not-found") },
			"Degraded", "ConnectorNotFound: "},
		{"access denied is retried", func(t *testing.T) map[string]any { return load(t, "access-denied") },
			"Progressing", "AccessDenied: AccessDeniedException"},
		{"access denied past --stalled-after is degraded", func(t *testing.T) map[string]any {
			obj := load(t, "access-denied")
			for _, c := range obj["status"].(map[string]any)["conditions"].([]any) {
				condition := c.(map[string]any)
				if condition["type"] == "Stalled" {
					condition["status"] = "True"
				}
			}
			return obj
		}, "Degraded", "AccessDenied: AccessDeniedException"},
		{"no status yet", func(t *testing.T) map[string]any {
			obj := load(t, "ready")
			delete(obj, "status")
			return obj
		}, "Progressing", "Waiting for the operator to describe the connector"},
		{"new spec not observed yet", func(t *testing.T) map[string]any {
			obj := load(t, "ready")
			obj["metadata"].(map[string]any)["generation"] = float64(2)
			return obj
		}, "Progressing", "Waiting for the operator to observe generation 2"},
		{"stalled condition of an older generation", func(t *testing.T) map[string]any {
			obj := load(t, "requirements-not-met")
			obj["metadata"].(map[string]any)["generation"] = float64(2)
			obj["status"].(map[string]any)["observedGeneration"] = float64(2)
			return obj
		}, "Progressing", "Waiting for the operator to describe the connector"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := run(t, c.obj(t))
			if got.status != c.status || !strings.HasPrefix(got.message, c.message) {
				t.Errorf("got %q %q, want %q with message starting %q", got.status, got.message, c.status, c.message)
			}
		})
	}
}
