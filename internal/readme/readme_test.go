// Package readme_test compiles every Go snippet of the repository's
// README.md, so that the documentation cannot drift from the API.
package readme_test

import (
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// givens declares what the README's text says a snippet takes from its
// surroundings ("the same ep as above", "your handler", a request's
// context): nothing else may be undefined.
const givens = `package snippets

import (
	"github.com/go-chi/chi/v5"
	"github.com/gofiber/fiber/v2"
	fiberv3 "github.com/gofiber/fiber/v3"
	"github.com/labstack/echo/v4"
	echov5 "github.com/labstack/echo/v5"
	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/metric"

	"github.com/ssekit/ssekit/lifecycle"
)

type userKey struct{} // an auth middleware's context key

type price struct {
	ID   string
	JSON []byte
}

var (
	prices  chan price         // a feed of prices, the Quick start's input
	ep      *lifecycle.Endpoint // "the same ep as above"
	handler lifecycle.Handler   // your handler
	mux     *http.ServeMux
	router  chi.Router
	e       *echo.Echo
	app     *fiber.App
	app3    *fiberv3.App // a Fiber v3 app, in "Swap frameworks"
	r       *http.Request // the request, where a snippet says "e.g. in POST /publish"
	body    []byte        // its body, likewise
	addr    string        // where a harness listens
	e5      *echov5.Echo  // an Echo v5 instance
	engine  *gin.Engine   // a Gin engine

	provider metric.MeterProvider // your OpenTelemetry MeterProvider, with its exporter
)
`

// imports maps the package names snippets use to their import paths. Echo
// and chi both name theirs middleware: the snippet's framework decides. So
// do Fiber v2 and v3 for fiber and its middleware: a snippet that mounts
// fiberv3adapter speaks v3 (fiberV3 below).
var imports = map[string]string{
	"context":        "context",
	"errors":         "errors",
	"http":           "net/http",
	"log":            "log",
	"time":           "time",
	"testing":        "testing",
	"lifecycle":      "github.com/ssekit/ssekit/lifecycle",
	"nethttpadapter": "github.com/ssekit/ssekit/nethttpadapter",
	"chiadapter":     "github.com/ssekit/ssekit/chiadapter",
	"echoadapter":    "github.com/ssekit/ssekit/echoadapter",
	"fiberadapter":   "github.com/ssekit/ssekit/fiberadapter",
	"fiberv3adapter": "github.com/ssekit/ssekit/fiberv3adapter",
	"hub":            "github.com/ssekit/ssekit/hub",
	"redisbackend":   "github.com/ssekit/ssekit/hub/redisbackend",
	"listener":       "github.com/ssekit/ssekit/listener",
	"otelsse":        "github.com/ssekit/ssekit/otelsse",
	"attribute":      "go.opentelemetry.io/otel/attribute",
	"conformance":    "github.com/ssekit/ssekit/conformance",
	"redis":          "github.com/redis/go-redis/v9",
	"chi":            "github.com/go-chi/chi/v5",
	"echo":           "github.com/labstack/echo/v4",
	"fiber":          "github.com/gofiber/fiber/v2",
	"cors":           "github.com/gofiber/fiber/v2/middleware/cors",
	"requestid":      "github.com/gofiber/fiber/v2/middleware/requestid",
	"echov5adapter":  "github.com/ssekit/ssekit/echov5adapter",
	"ginadapter":     "github.com/ssekit/ssekit/ginadapter",
	"gin":            "github.com/gin-gonic/gin",
	"gzip":           "github.com/gin-contrib/gzip",
	"signal":         "os/signal",
	"os":             "os",
}

// fiberV3 replaces imports' Fiber paths in a Fiber v3 snippet.
var fiberV3 = map[string]string{
	"fiber":     "github.com/gofiber/fiber/v3",
	"cors":      "github.com/gofiber/fiber/v3/middleware/cors",
	"requestid": "github.com/gofiber/fiber/v3/middleware/requestid",
}

var block = regexp.MustCompile("(?s)```go\n(.*?)```")

func TestREADMESnippetsCompile(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal("the go command is needed to build the README's snippets")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := block.FindAllSubmatch(readme, -1)
	if len(blocks) < 8 {
		t.Fatalf("found %d Go blocks in README.md; the pattern is broken", len(blocks))
	}
	dir, err := os.MkdirTemp(".", "_snippets") // inside the module, ignored by ./...
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	prelude := strings.Replace(givens, "import (\n", "import (\n\t\"net/http\"\n", 1)
	if err := os.WriteFile(filepath.Join(dir, "givens.go"), []byte(prelude), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, b := range blocks {
		src, err := snippetFile(i+1, string(b[1]))
		if err != nil {
			t.Fatalf("README Go block %d: %v\n%s", i+1, err, b[1])
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("block%02d.go", i+1)), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "build", "-o", os.DevNull, "./"+filepath.Base(dir))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("README snippets do not compile (blockNN.go is the NNth Go block of README.md):\n%s", out)
	}
}

// snippetFile makes block n a Go file: a function declaration stays as it
// is; statements become the body of a function. A snippet must use what it
// declares, as a reader's program would: an endpoint that is never mounted
// does not compile.
func snippetFile(n int, code string) (string, error) {
	body := code
	if !strings.HasPrefix(code, "func ") {
		body = fmt.Sprintf("func block%02d() {\n%s\n}\n", n, code)
	}
	if _, err := parser.ParseFile(token.NewFileSet(), "", "package p\n"+body, 0); err != nil {
		return "", err
	}
	// A snippet mounting echov5adapter uses Echo v5.
	echoPath := imports["echo"]
	if strings.Contains(code, "echov5adapter.") {
		echoPath = "github.com/labstack/echo/v5"
	}
	var imp []string
	v3 := strings.Contains(code, "fiberv3adapter.")
	for name, path := range imports {
		if p, ok := fiberV3[name]; ok && v3 {
			path = p
		}
		if name == "echo" {
			path = echoPath
		}
		if regexp.MustCompile(`\b` + name + `\.`).MatchString(code) {
			imp = append(imp, fmt.Sprintf("\t%q", path))
		}
	}
	if strings.Contains(code, "middleware.") {
		path := echoPath + "/middleware"
		if strings.Contains(code, "chi.") {
			path = "github.com/go-chi/chi/v5/middleware"
		}
		imp = append(imp, fmt.Sprintf("\t%q", path))
	}
	sort.Strings(imp)
	return fmt.Sprintf("package snippets\n\nimport (\n%s\n)\n\n%s", strings.Join(imp, "\n"), body), nil
}
