package config

import (
	_ "embed"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"sort"
	"strings"
)

// The source of the configuration types: their doc comments are the
// reference's descriptions, so the reference cannot drift from the code.
//
//go:embed config.go
var configSource string

// RefEntry is one setting in the reference.
type RefEntry struct {
	// Key is the setting's path, e.g. llm.model or slack.alerts[].channel.
	Key     string
	Type    string
	Default string
	// Env is the environment variable that sets it, empty for settings
	// inside lists.
	Env string
	Doc string
}

// Reference lists every setting of Config with its type, default,
// environment variable and description, in file order.
func Reference() ([]RefEntry, error) {
	docs, err := fieldDocs()
	if err != nil {
		return nil, err
	}
	var out []RefEntry
	var walk func(t reflect.Type, v reflect.Value, path string, inList bool)
	walk = func(t reflect.Type, v reflect.Value, path string, inList bool) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")
			if tag[0] == "-" || !f.IsExported() {
				continue
			}
			var fv reflect.Value
			if v.IsValid() {
				fv = v.Field(i)
			}
			if len(tag) > 1 && tag[1] == "inline" {
				walk(f.Type, fv, path, inList)
				continue
			}
			key := join(path, tag[0])
			doc := docs[t.Name()+"."+f.Name]
			ft := f.Type
			switch {
			case ft.Kind() == reflect.Struct && ft != reflect.TypeOf(Duration(0)):
				walk(ft, fv, key, inList)
				continue
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				e := RefEntry{Key: key, Type: "list", Doc: doc}
				if !inList {
					e.Env = envName(key)
				}
				out = append(out, e)
				walk(ft.Elem(), reflect.Value{}, key+"[]", true)
				continue
			}
			if secret, ok := strings.CutSuffix(tag[0], "_file"); ok && ft.Kind() == reflect.String && hasSecret(t, secret) {
				doc = fmt.Sprintf("A file holding `%s` (a mounted Secret), read at start, instead of the value in this file.", join(path, secret))
			}
			e := RefEntry{Key: key, Type: typeName(ft), Default: defaultOf(fv), Doc: doc}
			if !inList {
				e.Env = envName(key)
			}
			out = append(out, e)
		}
	}
	def := Default()
	// The default store path depends on the machine; say how.
	def.Store.Path = "$XDG_STATE_HOME/watchkeeper/watchkeeper.db (~/.local/state/…)"
	walk(reflect.TypeOf(Config{}), reflect.ValueOf(def), "", false)
	return out, nil
}

// fieldDocs maps "Type.Field" to the field's doc comment, from the source.
func fieldDocs() (map[string]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "config.go", configSource, parser.ParseComments)
	if err != nil {
		return nil, fmt.Errorf("read the configuration's source: %w", err)
	}
	docs := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			return true
		}
		// A comment above a run of fields without blank lines between them
		// covers those of the run it names ("CertFile and KeyFile are ...").
		lastDoc, lastLine := "", -1
		for _, fld := range st.Fields.List {
			text := ""
			if fld.Doc != nil {
				text = fld.Doc.Text()
			} else if fld.Comment != nil {
				text = fld.Comment.Text()
			}
			text = strings.Join(strings.Fields(text), " ")
			line := fset.Position(fld.Pos()).Line
			for _, name := range fld.Names {
				doc := text
				if doc == "" && line == lastLine+1 && strings.Contains(lastDoc, name.Name) {
					doc = lastDoc
				}
				docs[ts.Name.Name+"."+name.Name] = doc
			}
			if text != "" {
				lastDoc = text
			}
			lastLine = fset.Position(fld.End()).Line
		}
		return false
	})
	return docs, nil
}

func typeName(t reflect.Type) string {
	switch {
	case t == reflect.TypeOf(Duration(0)):
		return "duration"
	case t == reflect.TypeOf(Secret("")):
		return "secret"
	case t.Kind() == reflect.Pointer:
		return typeName(t.Elem())
	case t.Kind() == reflect.Slice:
		return "list of " + typeName(t.Elem())
	case t.Kind() == reflect.Map:
		return "map of " + typeName(t.Elem())
	case t.Kind() == reflect.Float64:
		return "number"
	case t.Kind() == reflect.Int:
		return "integer"
	case t.Kind() == reflect.Struct:
		return "object"
	}
	return t.Kind().String()
}

func defaultOf(v reflect.Value) string {
	if !v.IsValid() || v.IsZero() {
		return ""
	}
	switch x := v.Interface().(type) {
	case Secret:
		return "(set)"
	case Duration:
		return x.String()
	case []string:
		return strings.Join(x, ", ")
	case map[string]string:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return strings.Join(keys, ", ")
	}
	if v.Kind() == reflect.Pointer {
		return fmt.Sprint(v.Elem().Interface())
	}
	return fmt.Sprint(v.Interface())
}

// ReferenceMarkdown renders the reference as one table per top-level
// section.
func ReferenceMarkdown() (string, error) {
	entries, err := Reference()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	section := ""
	for _, e := range entries {
		top, _, _ := strings.Cut(e.Key, ".")
		top, _, _ = strings.Cut(top, "[")
		if top != section {
			section = top
			fmt.Fprintf(&b, "\n### `%s`\n\n| Key | Type | Default | Environment | Description |\n|---|---|---|---|---|\n", section)
		}
		env := ""
		if e.Env != "" {
			env = "`" + e.Env + "`"
		}
		def := ""
		if e.Default != "" {
			def = "`" + strings.ReplaceAll(e.Default, "|", "\\|") + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", e.Key, e.Type, def, env, strings.ReplaceAll(e.Doc, "|", "\\|"))
	}
	return strings.TrimPrefix(b.String(), "\n"), nil
}

// envName is the variable that sets key (the loader's rule).
func envName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// hasSecret reports whether t has a Secret field with the YAML name name.
func hasSecret(t reflect.Type, name string) bool {
	for i := range t.NumField() {
		f := t.Field(i)
		if strings.Split(f.Tag.Get("yaml"), ",")[0] == name && f.Type == reflect.TypeOf(Secret("")) {
			return true
		}
	}
	return false
}
