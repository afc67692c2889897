// Package deps_test proves what a user of one ssekit package downloads.
//
// ssekit is one module, and its go.mod names every framework it adapts. A
// user who imports only nethttpadapter must still get none of them: Go's
// pruned module graphs load, and record in go.sum, only the modules that
// provide packages the user's build and tests need (the user's imports, their
// dependencies, and the tests of those). That holds only while each adapter's
// framework stays inside that adapter's package, its internal helpers and its
// tests; one stray import, even in a test, puts a framework in every user's
// go.sum and download.
//
// For each package in the table below, the test makes a throwaway module that
// imports only that package, with ssekit replaced by this checkout, runs
// go mod tidy, and checks that go.sum names exactly the frameworks the row
// expects: the one adapted, and no other. On a machine whose module cache is
// empty, tidy fetches the modules from the Go module proxy.
package deps_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// frameworks are the heavy modules that no user should get unless they import
// the adapter made for one. A module belongs to a framework when its path is
// one of these prefixes or lies below one (so every major version of a
// framework is that framework).
var frameworks = map[string]string{
	"chi":      "github.com/go-chi/chi",
	"chromedp": "github.com/chromedp", // chromedp, cdproto, sysutil
	"echo":     "github.com/labstack/echo",
	"fasthttp": "github.com/valyala/fasthttp",
	"fiber":    "github.com/gofiber/fiber",
	"gin":      "github.com/gin-gonic/gin",
	"go-redis": "github.com/go-redis/redis", // go-redis before v9
	"otel":     "go.opentelemetry.io/otel",
	"redis":    "github.com/redis/go-redis",
}

// users lists what a user imports and which framework modules (exact module
// paths) their go.sum must then name: all of these, and no other framework
// module. Every package directory whose name ends in "adapter" must have its
// row; a new adapter is one line here.
var users = []struct {
	imports []string // packages below github.com/ssekit/ssekit
	want    []string // framework modules in go.sum; none for the core
}{
	{[]string{"lifecycle"}, nil},
	{[]string{"listener"}, nil},
	{[]string{"hub"}, nil},
	{[]string{"nethttpadapter"}, nil},
	{[]string{"chiadapter"}, []string{"github.com/go-chi/chi/v5"}},
	{[]string{"echoadapter"}, []string{"github.com/labstack/echo/v4"}},
	{[]string{"fiberadapter"}, []string{"github.com/gofiber/fiber/v2", "github.com/valyala/fasthttp"}},
	{[]string{"fiberv3adapter"}, []string{"github.com/gofiber/fiber/v3", "github.com/valyala/fasthttp"}},
	{[]string{"echov5adapter"}, []string{"github.com/labstack/echo/v5"}},
	{[]string{"ginadapter"}, []string{"github.com/gin-gonic/gin"}},
	{[]string{"hub", "hub/redisbackend"}, []string{"github.com/redis/go-redis/v9"}},
}

const module = "github.com/ssekit/ssekit"

func TestOnlyImportedFrameworks(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	goLine := moduleGoLine(t, root)

	// Every adapter has a row: an adapter without one would go unchecked.
	rows := map[string]bool{}
	for _, u := range users {
		for _, p := range u.imports {
			rows[p] = true
		}
		for _, m := range u.want {
			if framework(m) == "" {
				t.Errorf("%v: %s is in no framework of the frameworks table: add it there", u.imports, m)
			}
		}
	}
	for _, dir := range adapterDirs(t, root) {
		if !rows[dir] {
			t.Errorf("package %s has no row in users: add what a user of it must download", dir)
		}
	}
	for p := range rows {
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(p))); err != nil {
			t.Errorf("users names %s, which is not a package here: %v", p, err)
		}
	}

	for _, u := range users {
		t.Run(strings.Join(u.imports, "+"), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var src strings.Builder
			src.WriteString("package main\n\nimport (\n")
			for _, p := range u.imports {
				fmt.Fprintf(&src, "\t_ %q\n", module+"/"+p)
			}
			src.WriteString(")\n\nfunc main() {}\n")
			gomod := fmt.Sprintf("module example.com/user\n\ngo %s\n\nreplace %s => %s\n", goLine, module, root)
			write(t, filepath.Join(dir, "main.go"), src.String())
			write(t, filepath.Join(dir, "go.mod"), gomod)
			goCmd(t, dir, "mod", "tidy")

			sum, err := os.ReadFile(filepath.Join(dir, "go.sum"))
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			got := map[string][]string{} // framework module -> its go.sum lines
			for line := range strings.Lines(string(sum)) {
				mod, _, _ := strings.Cut(line, " ")
				if framework(mod) != "" {
					got[mod] = append(got[mod], strings.TrimSpace(line))
				}
			}
			for mod, lines := range got {
				if !slices.Contains(u.want, mod) {
					t.Errorf("a user who imports only %v gets %s (%s framework):\n%s\ngo mod why -m:\n%s",
						u.imports, mod, framework(mod), strings.Join(lines, "\n"), why(dir, mod))
				}
			}
			for _, mod := range u.want {
				if got[mod] == nil {
					t.Errorf("a user who imports %v does not get %s: is the table out of date? go.sum:\n%s", u.imports, mod, sum)
				}
			}
		})
	}
}

// framework returns the name of the framework the module belongs to, or "".
func framework(mod string) string {
	for name, prefix := range frameworks {
		if mod == prefix || strings.HasPrefix(mod, prefix+"/") {
			return name
		}
	}
	return ""
}

// adapterDirs returns, relative to root and slash-separated, every directory
// whose name ends in "adapter" and that holds Go files. It walks the whole
// module.
func adapterDirs(t *testing.T, root string) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			// go mod tidy reads these in another process: stat them
			// here so that go test's cache of this test's result
			// ends when one of them changes.
			if n := d.Name(); strings.HasSuffix(n, ".go") || n == "go.mod" || n == "go.sum" {
				_, err = os.Stat(path)
			}
			return err
		}
		name := d.Name()
		if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata") {
			return filepath.SkipDir // what the go command ignores
		}
		if !strings.HasSuffix(name, "adapter") {
			return nil
		}
		goFiles, err := filepath.Glob(filepath.Join(path, "*.go"))
		if err != nil {
			return err
		}
		if len(goFiles) > 0 {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			dirs = append(dirs, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatalf("no adapter directories below %s: is root wrong?", root)
	}
	return dirs
}

// moduleGoLine checks that root holds ssekit's go.mod and returns its go
// version, which the throwaway modules declare too.
func moduleGoLine(t *testing.T, root string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var mod, goVersion string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "module":
			mod = f[1]
		case len(f) == 2 && f[0] == "go":
			goVersion = f[1]
		}
	}
	if mod != module || goVersion == "" {
		t.Fatalf("%s/go.mod: module %q, go %q; want module %s with a go line", root, mod, goVersion, module)
	}
	return goVersion
}

// goCmd runs the go command in dir with the environment of the test (so the
// same GOPROXY and GOMODCACHE), GOFLAGS=-mod=mod and no workspace, and
// returns its combined output; it fails the test if the command fails.
func goCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := run(dir, args...)
	if err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return out
}

// why says which of the user's imports needs mod, for a failure message.
func why(dir, mod string) string {
	out, err := run(dir, "mod", "why", "-m", mod)
	if err != nil {
		return fmt.Sprintf("%s(go mod why: %v)", out, err)
	}
	return out
}

func run(dir string, args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
