package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts every environment override.
const EnvPrefix = "WATCHKEEPER_"

// EnvConfigPath names the config file when --config is not given.
const EnvConfigPath = EnvPrefix + "CONFIG"

// Loaded is a loaded configuration and where it came from.
type Loaded struct {
	Config
	// Path is the file read, or "" when only defaults and the environment
	// were used.
	Path string
	// EnvKeys are the WATCHKEEPER_* variables that were applied.
	EnvKeys []string
}

// Load reads the configuration. path is the --config flag; when empty,
// $WATCHKEEPER_CONFIG and then SearchPaths are tried, and a missing file
// there is not an error. environ is os.Environ() (passed in for tests).
// The result is validated; a returned error lists every problem found.
func Load(path string, environ []string) (Loaded, error) {
	env := envMap(environ)
	explicit := path != ""
	if !explicit {
		if p, ok := env[EnvConfigPath]; ok && p != "" {
			path, explicit = p, true
		}
	}
	if !explicit {
		for _, p := range SearchPaths() {
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
	}
	l := Loaded{Config: Default(), Path: path}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return l, fmt.Errorf("config file %s does not exist; create it (see deploy/examples/config.yaml) or drop --config to use the defaults", path)
			}
			return l, fmt.Errorf("read config: %w", err)
		}
		if err := decodeStrict(b, &l.Config); err != nil {
			return l, fmt.Errorf("%s: %w", path, err)
		}
	}
	keys, err := applyEnv(&l.Config, env)
	if err != nil {
		return l, err
	}
	l.EnvKeys = keys
	if err := resolveSecrets(&l.Config, env); err != nil {
		return l, err
	}
	return l, l.Validate()
}

func envMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// decodeStrict decodes YAML into cfg, rejecting unknown keys with their line
// and a suggestion.
func decodeStrict(b []byte, cfg *Config) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file means defaults
		}
		return fmt.Errorf("not valid YAML: %w", err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: the configuration must be a mapping of sections (log, llm, agent, ...)", root.Line)
	}
	if errs := checkKeys(root, reflect.TypeOf(*cfg), ""); len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := root.Decode(cfg); err != nil {
		return err
	}
	return nil
}

// checkKeys walks a mapping node against a struct type and reports every key
// that names no field.
func checkKeys(n *yaml.Node, t reflect.Type, path string) []error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	var errs []error
	switch t.Kind() {
	case reflect.Map:
		for i := 1; i < len(n.Content); i += 2 {
			errs = append(errs, checkKeys(n.Content[i], t.Elem(), join(path, n.Content[i-1].Value))...)
		}
	case reflect.Struct:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			f, ok := fields[k.Value]
			if !ok {
				msg := fmt.Sprintf("line %d: unknown key %q", k.Line, k.Value)
				if path != "" {
					msg += " in " + path
				}
				if s := suggest(k.Value, keysOf(fields)); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", s)
				} else {
					msg += fmt.Sprintf("; valid keys are %s", strings.Join(keysOf(fields), ", "))
				}
				errs = append(errs, errors.New(msg))
				continue
			}
			errs = append(errs, checkKeys(n.Content[i+1], f.Type, join(path, k.Value))...)
		}
	}
	return errs
}

// yamlFields maps YAML keys to fields, flattening `,inline` structs; each
// field's Index is its path from t.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	m := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if opts == "inline" && f.Type.Kind() == reflect.Struct {
			for k, sub := range yamlFields(f.Type) {
				sub.Index = append([]int{i}, sub.Index...)
				m[k] = sub
			}
			continue
		}
		if name != "" && name != "-" {
			m[name] = f
		}
	}
	return m
}

func keysOf(m map[string]reflect.StructField) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// suggest returns the candidate closest to s, if it is close enough to be a
// likely typo.
func suggest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := levenshtein(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// envField is a field settable from the environment.
type envField struct {
	path  string // llm.api_key
	index []int
}

// envFields maps WATCHKEEPER_LLM_API_KEY to the field llm.api_key, for every
// scalar field of Config.
func envFields() map[string]envField {
	out := map[string]envField{}
	var walk func(t reflect.Type, index []int, path string)
	walk = func(t reflect.Type, index []int, path string) {
		for name, f := range yamlFields(t) {
			idx := append(append([]int(nil), index...), f.Index...)
			p := join(path, name)
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(Duration(0)) {
				walk(f.Type, idx, p)
				continue
			}
			key := EnvPrefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(p))
			out[key] = envField{path: p, index: idx}
		}
	}
	walk(reflect.TypeOf(Config{}), nil, "")
	return out
}

// applyEnv sets fields from WATCHKEEPER_* variables. An unknown variable
// with the prefix is an error: it is almost always a typo.
func applyEnv(cfg *Config, env map[string]string) ([]string, error) {
	fields := envFields()
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	var keys []string
	var errs []error
	for k, v := range env {
		if !strings.HasPrefix(k, EnvPrefix) || k == EnvConfigPath {
			continue
		}
		f, ok := fields[k]
		if !ok {
			msg := fmt.Sprintf("unknown environment variable %s", k)
			if s := suggest(k, names); s != "" {
				msg += fmt.Sprintf("; did you mean %s?", s)
			}
			errs = append(errs, errors.New(msg))
			continue
		}
		if err := setFromString(reflect.ValueOf(cfg).Elem().FieldByIndex(f.index), v); err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", k, f.path, err))
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, errors.Join(errs...)
}

func setFromString(v reflect.Value, s string) error {
	switch v.Interface().(type) {
	case Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration; write it like 30s or 5m", s)
		}
		v.Set(reflect.ValueOf(Duration(d)))
		return nil
	case *float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		v.Set(reflect.ValueOf(&f))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		v.SetInt(int64(n))
	case reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole non-negative number", s)
		}
		v.SetUint(n)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return errors.New("cannot be set from the environment; set it in the config file")
		}
		var items []string
		for _, it := range strings.Split(s, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		v.Set(reflect.ValueOf(items))
	case reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		v.SetFloat(f)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		v.SetBool(b)
	case reflect.Map:
		// key=value pairs separated by commas.
		m := reflect.MakeMap(v.Type())
		if v.Type().Elem().Kind() != reflect.String {
			return errors.New("cannot be set from the environment; set it in the config file")
		}
		for _, pair := range strings.Split(s, ",") {
			if pair = strings.TrimSpace(pair); pair == "" {
				continue
			}
			k, val, ok := strings.Cut(pair, "=")
			if !ok {
				return fmt.Errorf("%q is not key=value", pair)
			}
			m.SetMapIndex(reflect.ValueOf(strings.TrimSpace(k)), reflect.ValueOf(strings.TrimSpace(val)))
		}
		v.Set(m)
	default:
		return errors.New("cannot be set from the environment; set it in the config file")
	}
	return nil
}

// providerKeyEnv returns the variables a provider's own tools read; they
// are used when no key is configured, as users of those SDKs expect.
func providerKeyEnv(provider string) []string {
	switch provider {
	case ProviderOpenAI:
		return []string{"OPENAI_API_KEY"}
	case ProviderAzure:
		return []string{"AZURE_OPENAI_API_KEY"}
	case ProviderAnthropic:
		return []string{"ANTHROPIC_API_KEY"}
	case ProviderGemini:
		return []string{"GEMINI_API_KEY", "GOOGLE_API_KEY"}
	}
	return nil
}

// resolveSecrets reads every Secret's *_file sibling and fills provider keys
// from their conventional variables.
func resolveSecrets(cfg *Config, env map[string]string) error {
	var errs []error
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		fields := yamlFields(v.Type())
		names := make([]string, 0, len(fields))
		for name := range fields {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			f := fields[name]
			fv := v.FieldByIndex(f.Index)
			switch {
			case f.Type == reflect.TypeOf(Secret("")):
				file, ok := fields[name+"_file"]
				if !ok {
					continue
				}
				fp := v.FieldByIndex(file.Index).String()
				if fp == "" {
					continue
				}
				if fv.String() != "" {
					errs = append(errs, fmt.Errorf("%s and %s_file are both set; keep one", join(path, name), join(path, name)))
					continue
				}
				b, err := os.ReadFile(fp)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s_file: %w; create the file or unset %s_file", join(path, name), err, join(path, name)))
					continue
				}
				val := strings.TrimRight(string(b), "\r\n")
				if val == "" {
					errs = append(errs, fmt.Errorf("%s_file: %s is empty", join(path, name), fp))
					continue
				}
				fv.SetString(val)
			case f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(Duration(0)):
				walk(fv, join(path, name))
			case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
				// A list of sections (gitops.repositories): each item's
				// secrets and *_file siblings too.
				for i := range fv.Len() {
					walk(fv.Index(i), fmt.Sprintf("%s[%d]", join(path, name), i))
				}
			}
		}
	}
	walk(reflect.ValueOf(cfg).Elem(), "")
	// Slack's own tools and SDKs read these names.
	for _, s := range []struct {
		dst *Secret
		env string
	}{{&cfg.Slack.BotToken, "SLACK_BOT_TOKEN"}, {&cfg.Slack.AppToken, "SLACK_APP_TOKEN"}, {&cfg.Slack.SigningSecret, "SLACK_SIGNING_SECRET"}} {
		if *s.dst == "" && env[s.env] != "" {
			*s.dst = Secret(env[s.env])
		}
	}
	if cfg.LLM.APIKey == "" {
		for _, k := range providerKeyEnv(cfg.LLM.Provider) {
			if v := env[k]; v != "" {
				cfg.LLM.APIKey = Secret(v)
				break
			}
		}
	}
	return errors.Join(errs...)
}

// Secrets returns every secret value set — each Secret and each header
// value, wherever it is in the configuration — so a redactor can hide them
// wherever they appear.
func (c Config) Secrets() []string {
	var out []string
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Struct:
			if v.Type() == reflect.TypeOf(Duration(0)) {
				return
			}
			for i := range v.NumField() {
				fv := v.Field(i)
				switch f := v.Type().Field(i); {
				case !f.IsExported():
				case fv.Type() == reflect.TypeOf(Secret("")):
					if s := fv.String(); s != "" {
						out = append(out, s)
					}
				case isHeaders(f):
					for _, h := range fv.Interface().(map[string]string) {
						out = append(out, h)
					}
				default:
					walk(fv)
				}
			}
		case reflect.Slice, reflect.Array:
			for i := range v.Len() {
				walk(v.Index(i))
			}
		case reflect.Map:
			for it := v.MapRange(); it.Next(); {
				walk(it.Value())
			}
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem())
			}
		}
	}
	walk(reflect.ValueOf(c))
	return out
}

// YAML renders the effective configuration with secrets hidden: Secret
// values, and the values of every headers map.
func (c Config) YAML() (string, error) {
	c = hideHeaders(reflect.ValueOf(c)).Interface().(Config)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return "", fmt.Errorf("render config: %w", err)
	}
	return b.String(), nil
}

// isHeaders reports whether a field is a map of HTTP headers (yaml
// "headers"), whose values carry API keys as often as not. Finding them by
// walking the configuration, rather than listing them, covers a section
// that gains headers later without anyone remembering to add it here.
func isHeaders(f reflect.StructField) bool {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name == "headers" && f.Type == reflect.TypeOf(map[string]string(nil))
}

// hideHeaders returns a copy of v with the values of every headers map
// hidden. Maps and slices are copied on the way down, not edited, as the
// caller's configuration shares them.
func hideHeaders(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		out.Set(v)
		for i := range v.NumField() {
			switch f := v.Type().Field(i); {
			case !f.IsExported():
			case isHeaders(f):
				out.Field(i).Set(reflect.ValueOf(hideValues(v.Field(i).Interface().(map[string]string))))
			default:
				out.Field(i).Set(hideHeaders(v.Field(i)))
			}
		}
		return out
	case reflect.Slice:
		if v.IsNil() || !mayHoldHeaders(v.Type().Elem()) {
			return v
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			out.Index(i).Set(hideHeaders(v.Index(i)))
		}
		return out
	case reflect.Map:
		if v.IsNil() || !mayHoldHeaders(v.Type().Elem()) {
			return v
		}
		out := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			out.SetMapIndex(it.Key(), hideHeaders(it.Value()))
		}
		return out
	case reflect.Pointer:
		if v.IsNil() || !mayHoldHeaders(v.Type().Elem()) {
			return v
		}
		out := reflect.New(v.Type().Elem())
		out.Elem().Set(hideHeaders(v.Elem()))
		return out
	}
	return v
}

// mayHoldHeaders reports whether a value of type t can contain a struct,
// and so a headers map; scalars, strings and their slices cannot.
func mayHoldHeaders(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Struct, reflect.Slice, reflect.Array, reflect.Map, reflect.Pointer, reflect.Interface:
		return true
	}
	return false
}

// hideValues hides header values, which carry API keys as often as not.
func hideValues(m map[string]string) map[string]string {
	if len(m) == 0 {
		return m
	}
	out := make(map[string]string, len(m))
	for k := range m {
		out[k] = hidden
	}
	return out
}
