package gitops

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Desired returns what the tree at src.Path under root declares for each
// Deployment, StatefulSet and DaemonSet: images by container after a
// Kustomize overlay's images and replicas entries (and its namePrefix,
// nameSuffix and namespace) are applied, the replica count (nil when an
// HPA scales the workload or the manifest leaves it out) and the pod
// template's restartedAt annotation. A workload's Namespace is "" when
// the tree does not set one (the owner's destination namespace applies).
//
// It fails for a Helm chart (charts are not rendered here), a remote
// Kustomize base (its workloads would be missing), and a file that does
// not parse. It only reads the tree and is safe for concurrent use.
func Desired(root string, src Source) (map[Workload]State, error) {
	dir, err := cleanDir(src.Path)
	if err != nil {
		return nil, err
	}
	if isHelm(root, dir, src) {
		return nil, fmt.Errorf("%s is a Helm chart; charts are not rendered here, so the workloads it declares are unknown (render it with helm template to compare)", displayDir(dir))
	}
	t, err := loadTree(root, dir)
	if err != nil {
		return nil, err
	}
	if len(t.remote) > 0 {
		return nil, fmt.Errorf("%s includes remote bases (%s) that are not fetched here; what they declare is unknown", displayDir(dir), strings.Join(t.remote, ", "))
	}
	out := map[Workload]State{}
	for _, o := range t.objects {
		if !isWorkloadKind(o.kind) {
			continue
		}
		w := Workload{Kind: o.kind, Namespace: o.appliedNS, Name: o.appliedName}
		if _, dup := out[w]; dup {
			return nil, fmt.Errorf("%s %s is declared twice (again in %s); Argo CD and Flux refuse that too", w.Kind, w.Name, o.file.path)
		}
		st := State{Images: map[string]string{}}
		for _, key := range []string{"initContainers", "containers"} {
			for _, c := range seqItems(lookup(o.node, "spec", "template", "spec", key)) {
				name, img := scalarAt(c, "name"), scalarAt(c, "image")
				if name == "" || img == "" {
					continue
				}
				img, _ = o.effectiveImage(img)
				st.Images[name] = img
			}
		}
		if t.hpaFor(o) == nil {
			if n, _, _ := o.effectiveReplicas(); n != nil {
				st.Replicas = n
			}
		}
		st.RestartedAt = scalarAt(lookup(o.node, "spec", "template", "metadata", "annotations"), restartedAtKey)
		out[w] = st
	}
	return out, nil
}

// restartedAtKey is the pod template annotation `kubectl rollout restart`
// sets.
const restartedAtKey = "kubectl.kubernetes.io/restartedAt"

// tree is what a directory declares: its objects, and the Kustomize
// layers between each object and the directory.
type tree struct {
	root string
	dir  string // the owner's path, slash-separated from root; "." for the root
	// top is the directory's kustomization; nil for plain manifests.
	top     *kustLayer
	objects []*object
	// remote lists remote bases the tree refers to.
	remote []string
	// searched lists the files read, for "not found" errors.
	searched []string
	files    map[string]*yamlFile
}

// yamlFile is a parsed manifest, kustomization or values file.
type yamlFile struct {
	path string // slash-separated from root
	data []byte
	// docs are the documents' top nodes (nil for an empty document).
	docs []*yaml.Node
}

// object is one Kubernetes object in a manifest file.
type object struct {
	file *yamlFile
	doc  int
	node *yaml.Node
	// kind, name and namespace are as written in the file.
	kind, name, namespace string
	// appliedName and appliedNS are what the owner applies, after the
	// kustomizations' prefixes, suffixes and namespaces.
	appliedName, appliedNS string
	// chain lists the kustomizations that include the object, innermost
	// first; empty for plain manifests.
	chain []*kustLayer
	// layerNames[i] is the object's name as chain[i] sees it (before
	// chain[i]'s own prefix and suffix).
	layerNames []string
}

// kustLayer is one kustomization file's transformations.
type kustLayer struct {
	dir      string
	file     *yamlFile
	node     *yaml.Node
	prefix   string
	suffix   string
	ns       string
	images   []*yaml.Node // the entries of images:
	replicas []*yaml.Node // the entries of replicas:
	// patched holds "Kind/name" (Kind "*" when a patch's target names
	// no kind) of objects a patch in this kustomization changes.
	patched map[string]bool
}

// kustomizationNames are the file names kustomize looks for, in order.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

func isWorkloadKind(k string) bool {
	return k == "Deployment" || k == "StatefulSet" || k == "DaemonSet"
}

// cleanDir turns Source.Path into a slash path inside the repository.
func cleanDir(p string) (string, error) {
	p = path.Clean("/" + filepath.ToSlash(p))
	if p == "/" {
		return ".", nil
	}
	return strings.TrimPrefix(p, "/"), nil
}

func displayDir(dir string) string {
	if dir == "." {
		return "the repository's root"
	}
	return dir
}

// inside reports whether the slash path p is in dir.
func inside(p, dir string) bool {
	return dir == "." || strings.HasPrefix(p, dir+"/")
}

func isHelm(root, dir string, src Source) bool {
	if src.Helm != nil {
		return true
	}
	_, err := os.Stat(filepath.Join(root, filepath.FromSlash(dir), "Chart.yaml"))
	return err == nil
}

// loadTree reads what dir declares: the kustomization there and what it
// includes, or every manifest under it.
func loadTree(root, dir string) (*tree, error) {
	t := &tree{root: root, dir: dir, files: map[string]*yamlFile{}}
	abs := filepath.Join(root, filepath.FromSlash(dir))
	if fi, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("the owner's path %s: %w", displayDir(dir), err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("the owner's path %s is not a directory", dir)
	}
	if k := findKustomization(abs); k != "" {
		top, err := t.kustomize(dir, nil, map[string]bool{})
		if err != nil {
			return nil, err
		}
		t.top = top
		return t, nil
	}
	err := filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != abs && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !isManifestName(d.Name()) {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		return t.addManifests(filepath.ToSlash(rel), nil)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

func isManifestName(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

func findKustomization(dirAbs string) string {
	for _, n := range kustomizationNames {
		if fi, err := os.Stat(filepath.Join(dirAbs, n)); err == nil && !fi.IsDir() {
			return n
		}
	}
	return ""
}

// readYAML reads and parses a file once; p is slash-separated from root.
func (t *tree) readYAML(p string) (*yamlFile, error) {
	if f, ok := t.files[p]; ok {
		return f, nil
	}
	f, err := parseFile(t.root, p)
	if err != nil {
		return nil, err
	}
	t.files[p] = f
	t.searched = append(t.searched, p)
	return f, nil
}

func parseFile(root, p string) (*yamlFile, error) {
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
	if err != nil {
		return nil, err
	}
	f := &yamlFile{path: p, data: data}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if bytes.Contains(data, []byte("{{")) {
				return nil, fmt.Errorf("%s is a template ({{ … }}), not YAML: %w", p, err)
			}
			return nil, fmt.Errorf("%s does not parse as YAML (Argo CD and Flux would fail on it too): %w", p, err)
		}
		var top *yaml.Node
		if len(n.Content) > 0 {
			top = n.Content[0]
		}
		f.docs = append(f.docs, top)
	}
	return f, nil
}

// addManifests adds the objects of a manifest file included by chain.
func (t *tree) addManifests(p string, chain []*kustLayer) error {
	f, err := t.readYAML(p)
	if err != nil {
		return err
	}
	for i, d := range f.docs {
		if d == nil || d.Kind != yaml.MappingNode {
			continue
		}
		kind, name := scalarAt(d, "kind"), scalarAt(lookup(d, "metadata"), "name")
		if kind == "" || name == "" {
			continue
		}
		o := &object{file: f, doc: i, node: d, kind: kind, name: name,
			namespace: scalarAt(lookup(d, "metadata"), "namespace"), chain: chain}
		o.appliedName, o.appliedNS = name, o.namespace
		for _, k := range chain {
			o.layerNames = append(o.layerNames, o.appliedName)
			o.appliedName = k.prefix + o.appliedName + k.suffix
			if k.ns != "" {
				o.appliedNS = k.ns
			}
		}
		t.objects = append(t.objects, o)
	}
	return nil
}

// kustomize reads the kustomization in dir and everything it includes;
// outer lists the kustomizations that include this one, innermost first.
func (t *tree) kustomize(dir string, outer []*kustLayer, visiting map[string]bool) (*kustLayer, error) {
	if visiting[dir] {
		return nil, fmt.Errorf("kustomization %s includes itself", dir)
	}
	visiting[dir] = true
	defer delete(visiting, dir)

	abs := filepath.Join(t.root, filepath.FromSlash(dir))
	name := findKustomization(abs)
	if name == "" {
		return nil, fmt.Errorf("%s is included as a Kustomize base but has no kustomization.yaml", dir)
	}
	f, err := t.readYAML(path.Join(dir, name))
	if err != nil {
		return nil, err
	}
	if len(f.docs) == 0 || f.docs[0] == nil || f.docs[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s is not a kustomization (not a mapping)", f.path)
	}
	var spec struct {
		Resources  []string `yaml:"resources"`
		Bases      []string `yaml:"bases"`
		Components []string `yaml:"components"`
		NamePrefix string   `yaml:"namePrefix"`
		NameSuffix string   `yaml:"nameSuffix"`
		Namespace  string   `yaml:"namespace"`
		PatchesSM  []string `yaml:"patchesStrategicMerge"`
		Patches    []struct {
			Path   string `yaml:"path"`
			Patch  string `yaml:"patch"`
			Target *struct {
				Kind string `yaml:"kind"`
				Name string `yaml:"name"`
			} `yaml:"target"`
		} `yaml:"patches"`
		PatchesJSON6902 []struct {
			Target struct {
				Kind string `yaml:"kind"`
				Name string `yaml:"name"`
			} `yaml:"target"`
		} `yaml:"patchesJson6902"`
	}
	if err := f.docs[0].Decode(&spec); err != nil {
		return nil, fmt.Errorf("read %s: %w", f.path, err)
	}
	k := &kustLayer{dir: dir, file: f, node: f.docs[0], prefix: spec.NamePrefix,
		suffix: spec.NameSuffix, ns: spec.Namespace, patched: map[string]bool{},
		images: seqItems(lookup(f.docs[0], "images")), replicas: seqItems(lookup(f.docs[0], "replicas"))}

	// Patches are recorded, not applied: an object a patch touches is
	// changed through the kustomization (whose images and replicas
	// entries apply after patches), never in its manifest.
	for _, p := range spec.PatchesSM {
		k.patchedBy(t, dir, p, "")
	}
	for _, p := range spec.Patches {
		if p.Target != nil && p.Target.Name != "" {
			k.patched[orDefault(p.Target.Kind, "*")+"/"+p.Target.Name] = true
			continue
		}
		k.patchedBy(t, dir, p.Path, p.Patch)
	}
	for _, p := range spec.PatchesJSON6902 {
		k.patched[orDefault(p.Target.Kind, "*")+"/"+p.Target.Name] = true
	}

	chain := append([]*kustLayer{k}, outer...)
	for _, r := range slices.Concat(spec.Resources, spec.Bases, spec.Components) {
		if isRemote(r) {
			t.remote = append(t.remote, r)
			continue
		}
		p := path.Join(dir, r)
		if strings.HasPrefix(p, "../") || p == ".." {
			return nil, fmt.Errorf("%s: resource %s is outside the repository", f.path, r)
		}
		fi, err := os.Stat(filepath.Join(t.root, filepath.FromSlash(p)))
		if err != nil {
			return nil, fmt.Errorf("%s: resource %s: %w", f.path, r, err)
		}
		if fi.IsDir() {
			if _, err := t.kustomize(p, chain, visiting); err != nil {
				return nil, err
			}
			continue
		}
		if err := t.addManifests(p, chain); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// patchedBy records the objects a strategic-merge patch (a file, or
// inline text) names.
func (k *kustLayer) patchedBy(t *tree, dir, file, inline string) {
	var data []byte
	switch {
	case inline != "":
		data = []byte(inline)
	case file != "":
		b, err := os.ReadFile(filepath.Join(t.root, filepath.FromSlash(path.Join(dir, file))))
		if err != nil {
			// An inline patch in patchesStrategicMerge is a string with
			// newlines, not a file name.
			if !strings.Contains(file, "\n") {
				return
			}
			b = []byte(file)
		}
		data = b
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var v struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
		}
		if err := dec.Decode(&v); err != nil {
			return
		}
		if v.Metadata.Name != "" {
			k.patched[orDefault(v.Kind, "*")+"/"+v.Metadata.Name] = true
		}
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// remoteRef matches the resource forms kustomize fetches: URLs, git@
// and the github.com/owner/repo shorthand.
var remoteRef = regexp.MustCompile(`^(?:[a-z][a-z0-9+.-]*://|git@|git::|github\.com/|gitlab\.com/|bitbucket\.org/)|\?ref=`)

func isRemote(r string) bool { return remoteRef.MatchString(r) }

// patched reports whether a patch between the object's manifest and the
// owner's path changes the object.
func (o *object) patched() string {
	for i, k := range o.chain {
		if k.patched[o.kind+"/"+o.layerNames[i]] || k.patched["*/"+o.layerNames[i]] {
			return k.file.path
		}
	}
	return ""
}

// effectiveImage applies the chain's images entries to a manifest's
// image, innermost first; it returns the entry that set it last.
func (o *object) effectiveImage(img string) (string, *imageEntry) {
	var last *imageEntry
	for i, k := range o.chain {
		for _, e := range k.images {
			name := scalarAt(e, "name")
			if name == "" || name != imageRepo(img) {
				continue
			}
			ie := &imageEntry{k: k, node: e, layer: i, matched: name}
			img = ie.apply(img)
			last = ie
			break
		}
	}
	return img, last
}

// imageEntry is an entry of a kustomization's images: list.
type imageEntry struct {
	k       *kustLayer
	node    *yaml.Node
	layer   int
	matched string
}

// apply is what kustomize's image transformer does with the entry.
func (e *imageEntry) apply(img string) string {
	repo, tag, digest := splitImage(img)
	if n := scalarAt(e.node, "newName"); n != "" {
		repo = n
	}
	if t := scalarAt(e.node, "newTag"); t != "" {
		tag, digest = t, ""
	}
	if d := scalarAt(e.node, "digest"); d != "" {
		tag, digest = "", d
	}
	return joinImage(repo, tag, digest)
}

// effectiveReplicas is the manifest's spec.replicas after the chain's
// replicas entries; the entry is the one that set it last, if any.
func (o *object) effectiveReplicas() (*int32, *yaml.Node, *kustLayer) {
	var n *int32
	if s := lookup(o.node, "spec", "replicas"); s != nil {
		if v, err := strconv.ParseInt(s.Value, 10, 32); err == nil {
			n = ptr(int32(v))
		}
	}
	var last *yaml.Node
	var lastK *kustLayer
	for i, k := range o.chain {
		if e := replicaEntry(k, o.layerNames[i], o.name); e != nil {
			if v, err := strconv.ParseInt(scalarAt(e, "count"), 10, 32); err == nil {
				n = ptr(int32(v))
				last, lastK = e, k
			}
		}
	}
	return n, last, lastK
}

// replicaEntry finds the replicas: entry for an object by the name the
// layer sees or, as kustomize also matches, the name it was declared with.
func replicaEntry(k *kustLayer, names ...string) *yaml.Node {
	for _, e := range k.replicas {
		if slices.Contains(names, scalarAt(e, "name")) {
			return e
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// hpaFor returns the HorizontalPodAutoscaler in the tree that scales o.
func (t *tree) hpaFor(o *object) *object {
	for _, h := range t.objects {
		if h.kind != "HorizontalPodAutoscaler" || h.appliedNS != o.appliedNS {
			continue
		}
		ref := lookup(h.node, "spec", "scaleTargetRef")
		if scalarAt(ref, "kind") != o.kind {
			continue
		}
		if n := scalarAt(ref, "name"); n == o.name || n == o.appliedName {
			return h
		}
	}
	return nil
}

// splitImage cuts an image reference into repository (registry
// included), tag and digest.
func splitImage(img string) (repo, tag, digest string) {
	repo = img
	if i := strings.Index(repo, "@"); i >= 0 {
		repo, digest = repo[:i], repo[i+1:]
	}
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo, tag = repo[:i], repo[i+1:]
	}
	return repo, tag, digest
}

func imageRepo(img string) string {
	r, _, _ := splitImage(img)
	return r
}

func joinImage(repo, tag, digest string) string {
	s := repo
	if tag != "" {
		s += ":" + tag
	}
	if digest != "" {
		s += "@" + digest
	}
	return s
}

// lookup follows mapping keys from n; it returns nil when one is missing.
func lookup(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		_, v := mapEntry(n, k)
		if v == nil {
			return nil
		}
		n = v
	}
	return n
}

// mapEntry returns a mapping's key and value nodes for key.
func mapEntry(n *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i], n.Content[i+1]
		}
	}
	return nil, nil
}

// scalarAt is the scalar value under key in a mapping, or "".
func scalarAt(n *yaml.Node, key string) string {
	v := lookup(n, key)
	if v != nil && v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	if v == nil || v.Kind != yaml.ScalarNode {
		return ""
	}
	return v.Value
}

func seqItems(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}
