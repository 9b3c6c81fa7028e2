package gitops

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

var (
	// ErrAlreadyDesired means the repository already declares what the
	// change asks for: the cluster has not synced it yet, and no pull
	// request is needed.
	ErrAlreadyDesired = errors.New("already desired in the repository")
	// ErrCannotEdit means Plan refused to edit the files (generated,
	// templated, ambiguous, or out of step with the cluster); the error
	// says why, and a person has to make the change by hand.
	ErrCannotEdit = errors.New("cannot edit the repository safely")
)

// planError is a refusal or an "already desired" answer: its message is
// for people, and errors.Is matches its kind.
type planError struct {
	kind error
	msg  string
}

func (e *planError) Error() string        { return e.msg }
func (e *planError) Is(target error) bool { return target == e.kind }

func refuse(format string, args ...any) error {
	return &planError{kind: ErrCannotEdit, msg: fmt.Sprintf(format, args...)}
}

func already(format string, args ...any) error {
	return &planError{kind: ErrAlreadyDesired, msg: fmt.Sprintf(format, args...)}
}

// Plan turns a change into an edit of the checked-out repository at root:
// the file where src.Path declares the workload's desired state, edited
// only where the value is written (comments, key order, quoting and
// indentation kept), with its diff as `git diff` prints it. Plain
// manifests, Kustomize overlays (their images and replicas entries) and
// Helm values files are understood; a JSON manifest is edited in place
// when the change replaces a value and refused when it would add keys.
//
// It fails with ErrAlreadyDesired when the repository already has the
// target, with ErrCannotEdit (and the reason) when the file cannot be
// changed safely — generated or rendered, templated, an anchor or alias,
// several or no matching documents, or a repository that disagrees with
// the cluster (Change.From) — and with other errors when the tree cannot
// be read. It does not write; the caller commits Edit.Files. It is safe
// for concurrent use.
func Plan(root string, src Source, ch Change) (Edit, error) {
	if err := validateChange(ch); err != nil {
		return Edit{}, err
	}
	dir, err := cleanDir(src.Path)
	if err != nil {
		return Edit{}, err
	}
	var fe *fileEdit
	if isHelm(root, dir, src) {
		fe, err = planHelm(root, dir, src, ch)
	} else {
		fe, err = planTree(root, dir, ch)
	}
	if err != nil {
		return Edit{}, err
	}
	return fe.finish(root)
}

func validateChange(ch Change) error {
	if ch.Workload.Name == "" || ch.Workload.Kind == "" {
		return fmt.Errorf("the change names no workload (kind and name are required)")
	}
	switch ch.Kind {
	case ChangeImage:
		if ch.Image == "" {
			return fmt.Errorf("an image change needs the target image")
		}
	case ChangeReplicas:
		if ch.Replicas < 0 {
			return fmt.Errorf("replicas %d is negative", ch.Replicas)
		}
	case ChangeRestart:
		if ch.At.IsZero() {
			return fmt.Errorf("a restart needs its time (Change.At)")
		}
	default:
		return fmt.Errorf("unknown change kind %q (want %s, %s or %s)", ch.Kind, ChangeImage, ChangeReplicas, ChangeRestart)
	}
	return nil
}

// fileEdit is a change to one file: byte splices on its original text,
// and the same change stated on its decoded documents, so finish can
// check that the splices changed that and nothing else.
type fileEdit struct {
	f       *yamlFile
	splices []splice
	ops     []op
	where   string
}

// splice replaces the bytes [start, end) by text.
type splice struct {
	start, end int
	text       string
}

// op sets (or deletes) the value at path in document doc; an index equal
// to a list's length appends.
type op struct {
	doc   int
	path  []any
	value any
	del   bool
}

func (fe *fileEdit) finish(root string) (Edit, error) {
	if reason := generatedReason(fe.f.data); reason != "" {
		return Edit{}, refuse("%s is %s", fe.f.path, reason)
	}
	sp := slices.Clone(fe.splices)
	slices.SortFunc(sp, func(a, b splice) int { return b.start - a.start })
	out := slices.Clone(fe.f.data)
	for _, s := range sp {
		out = slices.Concat(out[:s.start], []byte(s.text), out[s.end:])
	}
	if err := fe.verify(out); err != nil {
		return Edit{}, err
	}
	mode := "100644"
	if fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(fe.f.path))); err == nil && fi.Mode()&0o111 != 0 {
		mode = "100755"
	}
	return Edit{
		Files: map[string][]byte{fe.f.path: out},
		Diff:  unifiedDiff(fe.f.path, mode, fe.f.data, out),
		Where: fe.where,
	}, nil
}

// verify decodes the edited file and checks it is the original with the
// ops applied: a splice that broke the YAML or reached past its value is
// a bug here, and the file is refused rather than proposed.
func (fe *fileEdit) verify(edited []byte) error {
	before, err := decodeAll(fe.f.data)
	if err != nil {
		return fmt.Errorf("decode %s: %w", fe.f.path, err)
	}
	after, err := decodeAll(edited)
	if err != nil {
		return refuse("editing %s would leave YAML that does not parse (%v); edit it by hand (and report this Watchkeeper bug)", fe.f.path, err)
	}
	for _, o := range fe.ops {
		before[o.doc] = setPath(before[o.doc], o.path, o.value, o.del)
	}
	if !reflect.DeepEqual(before, after) {
		return refuse("editing %s would change more than %s; edit it by hand (and report this Watchkeeper bug)", fe.f.path, fe.where)
	}
	return nil
}

func decodeAll(data []byte) ([]any, error) {
	var docs []any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, v)
	}
}

func setPath(v any, p []any, value any, del bool) any {
	if len(p) == 0 {
		return value
	}
	switch k := p[0].(type) {
	case string:
		m, _ := v.(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		if len(p) == 1 && del {
			delete(m, k)
			return m
		}
		m[k] = setPath(m[k], p[1:], value, del)
		return m
	case int:
		l, _ := v.([]any)
		if k == len(l) {
			l = append(l, nil)
		}
		l[k] = setPath(l[k], p[1:], value, del)
		return l
	}
	return v
}

// generatedMarkers are the conventions tools use to say "do not edit
// me": Go's generated-code comment (also used by code generators that
// write YAML), free-form "this file is generated" headers, and the
// "# Source: chart/templates/…" lines `helm template` writes.
var (
	goGenerated   = regexp.MustCompile(`(?m)^#\s*Code generated .*DO NOT EDIT\.?\s*$`)
	saysGenerated = regexp.MustCompile(`(?mi)^#.*\b(?:this file (?:is|was|has been) (?:auto-?)?generated|auto-?generated file|do not edit this file)\b`)
	helmRendered  = regexp.MustCompile(`(?m)^# Source: \S+/templates/\S+`)
)

// generatedReason says why a file must not be edited by hand, or "".
func generatedReason(data []byte) string {
	switch {
	case helmRendered.Match(data):
		return `rendered by helm template (its "# Source: …/templates/…" headers say so); change the chart's values instead`
	case goGenerated.Match(data):
		return `marked generated ("# Code generated … DO NOT EDIT"); change what generates it instead`
	case saysGenerated.Match(data):
		return "marked generated by its header comment; change what generates it instead"
	}
	return ""
}

// planTree plans a change on plain manifests or a Kustomize overlay.
func planTree(root, dir string, ch Change) (*fileEdit, error) {
	t, err := loadTree(root, dir)
	if err != nil {
		return nil, err
	}
	w := ch.Workload
	var found []*object
	for _, o := range t.objects {
		if o.kind == w.Kind && o.appliedName == w.Name && (o.appliedNS == "" || w.Namespace == "" || o.appliedNS == w.Namespace) {
			found = append(found, o)
		}
	}
	switch {
	case len(found) > 1:
		var at []string
		for _, o := range found {
			at = append(at, fmt.Sprintf("%s (document %d)", o.file.path, o.doc+1))
		}
		return nil, refuse("%s %s is declared %d times: %s; say which one the owner applies", w.Kind, w.Name, len(found), strings.Join(at, ", "))
	case len(found) == 0 && len(t.remote) > 0 && t.top != nil:
		return planRemote(t, ch)
	case len(found) == 0:
		return nil, refuse("no manifest under %s declares %s %s (searched %s)", displayDir(dir), w.Kind, qualified(w), strings.Join(t.searched, ", "))
	}
	o := found[0]
	switch ch.Kind {
	case ChangeImage:
		return planImage(t, o, ch)
	case ChangeReplicas:
		return planReplicas(t, o, ch)
	default:
		return planRestart(t, o, ch)
	}
}

func qualified(w Workload) string {
	if w.Namespace == "" {
		return w.Name
	}
	return w.Namespace + "/" + w.Name
}

// container finds the container a change names in a pod template:
// containers first, initContainers only when the name is one of them.
func container(o *object, name string) (*yaml.Node, []any, error) {
	podSpec, err := resolve(o.file, o.node, "spec", "template", "spec")
	if err != nil {
		return nil, nil, err
	}
	var names []string
	for _, key := range []string{"containers", "initContainers"} {
		_, seq := mapEntry(podSpec, key)
		if err := plainNode(o.file, seq, "spec.template.spec."+key); seq != nil && err != nil {
			return nil, nil, err
		}
		items := seqItems(seq)
		if name == "" && key == "containers" && len(items) == 1 {
			return items[0], []any{"spec", "template", "spec", key, 0}, nil
		}
		for i, c := range items {
			n := scalarAt(c, "name")
			names = append(names, n)
			if n == name && name != "" {
				return c, []any{"spec", "template", "spec", key, i}, nil
			}
		}
	}
	if name == "" {
		return nil, nil, refuse("%s %s in %s has several containers (%s); the change must name one", o.kind, o.name, o.file.path, strings.Join(names, ", "))
	}
	return nil, nil, refuse("%s %s in %s has no container %q (it has %s)", o.kind, o.name, o.file.path, name, strings.Join(names, ", "))
}

func planImage(t *tree, o *object, ch Change) (*fileEdit, error) {
	c, cpath, err := container(o, ch.Container)
	if err != nil {
		return nil, err
	}
	imgNode := lookup(c, "image")
	if imgNode == nil {
		return nil, refuse("container %s of %s %s in %s has no image", scalarAt(c, "name"), o.kind, o.name, o.file.path)
	}
	if err := plainNode(o.file, imgNode, "the image of container "+scalarAt(c, "name")); err != nil {
		return nil, err
	}
	effective, entry := o.effectiveImage(imgNode.Value)
	if err := checkImage(effective, ch, o.file.path); err != nil {
		return nil, err
	}
	cname := scalarAt(c, "name")
	switch {
	case entry != nil && inside(entry.k.file.path, t.dir):
		return editImageEntry(entry.k, entry.node, entry.matched, ch.Image)
	case inside(o.file.path, t.dir) && o.patched() == "" && (entry == nil || t.top == nil):
		fe := &fileEdit{f: o.file, where: fmt.Sprintf("%s: %s %s spec.template.spec.%s[%s].image", o.file.path, o.kind, o.name, cpath[3], cname)}
		if err := fe.replace(o.doc, imgNode, slices.Concat(cpath, []any{"image"}), ch.Image, "!!str"); err != nil {
			return nil, err
		}
		return fe, nil
	case t.top != nil:
		why := "declared in " + o.file.path + ", outside " + t.dir
		if p := o.patched(); p != "" {
			why = "patched by " + p
		}
		return addImageEntry(t.top, imageRepo(effective), ch.Image, why)
	}
	return nil, refuse("%s %s is declared in %s, outside %s; edit it by hand", o.kind, o.name, o.file.path, t.dir)
}

// checkImage compares what the repository declares with the change.
func checkImage(declared string, ch Change, where string) error {
	if declared == ch.Image {
		return already("%s is already %s in the repository (%s); the cluster has not synced it yet", ch.Workload.Name, ch.Image, where)
	}
	if ch.From != "" && declared != ch.From {
		return refuse("the repository says %s (%s), the cluster runs %s: the repository and the cluster disagree already; sync first or edit by hand", declared, where, ch.From)
	}
	return nil
}

// editImageEntry makes a kustomization's images entry produce target.
func editImageEntry(k *kustLayer, e *yaml.Node, matched, target string) (*fileEdit, error) {
	idx := slices.Index(k.images, e)
	repo, tag, digest := splitImage(target)
	if tag != "" && digest != "" {
		return nil, refuse("%s: a Kustomize images entry sets a tag or a digest, not both (%s); give the image as repo:tag or repo@digest", k.file.path, target)
	}
	fe := &fileEdit{f: k.file}
	base := []any{"images", idx}
	var fields []string
	curName := orDefault(scalarAt(e, "newName"), matched)
	if repo != curName {
		if err := fe.setKey(e, base, "newName", repo); err != nil {
			return nil, err
		}
		fields = append(fields, "newName")
	}
	set, drop := "newTag", "digest"
	value := tag
	if digest != "" {
		set, drop, value = "digest", "newTag", digest
	}
	if err := fe.swapKey(e, base, drop, set, value); err != nil {
		return nil, err
	}
	fields = append(fields, set)
	fe.where = fmt.Sprintf("%s: images[%s].%s", k.file.path, matched, strings.Join(fields, "+"))
	return fe, nil
}

// addImageEntry adds an images entry for name to the owner's
// kustomization, which is what a Kustomize user does for an image whose
// manifest lives in a shared base.
func addImageEntry(k *kustLayer, name, target, why string) (*fileEdit, error) {
	repo, tag, digest := splitImage(target)
	if tag != "" && digest != "" {
		return nil, refuse("%s: a Kustomize images entry sets a tag or a digest, not both (%s); give the image as repo:tag or repo@digest", k.file.path, target)
	}
	fields := [][2]string{{"name", name}}
	if repo != name {
		fields = append(fields, [2]string{"newName", repo})
	}
	if digest != "" {
		fields = append(fields, [2]string{"digest", digest})
	} else {
		fields = append(fields, [2]string{"newTag", tag})
	}
	fe := &fileEdit{f: k.file, where: fmt.Sprintf("%s: images[%s] added (the workload is %s)", k.file.path, name, why)}
	if err := fe.appendItem(k.node, "images", fields); err != nil {
		return nil, err
	}
	return fe, nil
}

func planReplicas(t *tree, o *object, ch Change) (*fileEdit, error) {
	n := ch.Replicas
	if h := t.hpaFor(o); h != nil {
		return planHPA(t, o, h, n)
	}
	cur, entry, ek := o.effectiveReplicas()
	if cur != nil && *cur == n {
		return nil, already("%s %s already has %d replicas in the repository; the cluster has not synced it yet", o.kind, o.appliedName, n)
	}
	switch {
	case entry != nil && inside(ek.file.path, t.dir):
		fe := &fileEdit{f: ek.file, where: fmt.Sprintf("%s: replicas[%s].count", ek.file.path, scalarAt(entry, "name"))}
		_, v := mapEntry(entry, "count")
		if err := fe.replace(0, v, []any{"replicas", slices.Index(ek.replicas, entry), "count"}, strconv.Itoa(int(n)), "!!int"); err != nil {
			return nil, err
		}
		return fe, nil
	case inside(o.file.path, t.dir) && o.patched() == "" && (entry == nil || t.top == nil):
		fe := &fileEdit{f: o.file, where: fmt.Sprintf("%s: %s %s spec.replicas", o.file.path, o.kind, o.name)}
		spec, err := resolve(o.file, o.node, "spec")
		if err != nil {
			return nil, err
		}
		if v := lookup(spec, "replicas"); v != nil {
			return fe, fe.replace(o.doc, v, []any{"spec", "replicas"}, strconv.Itoa(int(n)), "!!int")
		}
		specKey, _ := mapEntry(o.node, "spec")
		return fe, fe.insert(o.doc, specKey, spec, []any{"spec"}, []string{"replicas"}, int(n), strconv.Itoa(int(n)))
	case t.top != nil:
		name := o.layerNames[len(o.layerNames)-1]
		why := "declared in " + o.file.path + ", outside " + t.dir
		if p := o.patched(); p != "" {
			why = "patched by " + p
		}
		fe := &fileEdit{f: t.top.file, where: fmt.Sprintf("%s: replicas[%s] added (the workload is %s)", t.top.file.path, name, why)}
		return fe, fe.appendItem(t.top.node, "replicas", [][2]string{{"name", name}, {"count", strconv.Itoa(int(n))}})
	}
	return nil, refuse("%s %s is declared in %s, outside %s; edit it by hand", o.kind, o.name, o.file.path, t.dir)
}

// planHPA raises an HPA's minimum: with an HPA, spec.replicas is the
// HPA's to set, and the minimum is what keeps more pods running.
func planHPA(t *tree, o, h *object, n int32) (*fileEdit, error) {
	spec, err := resolve(h.file, h.node, "spec")
	if err != nil {
		return nil, err
	}
	min := int32(1)
	minNode := lookup(spec, "minReplicas")
	if minNode != nil {
		v, err := strconv.ParseInt(minNode.Value, 10, 32)
		if err != nil {
			return nil, refuse("%s: HorizontalPodAutoscaler %s has minReplicas %q, not a number", h.file.path, h.name, minNode.Value)
		}
		min = int32(v)
	}
	max, _ := strconv.ParseInt(scalarAt(spec, "maxReplicas"), 10, 32)
	switch {
	case n == min:
		return nil, already("HorizontalPodAutoscaler %s already keeps at least %d replicas of %s in the repository; the cluster has not synced it yet", h.name, n, o.appliedName)
	case n < min:
		return nil, refuse("HorizontalPodAutoscaler %s (%s) scales %s %s between %d and %d; lowering it to %d means changing the HPA, edit it by hand", h.name, h.file.path, o.kind, o.appliedName, min, max, n)
	case max > 0 && int64(n) > max:
		return nil, refuse("HorizontalPodAutoscaler %s (%s) allows at most %d replicas of %s; raising its minimum to %d needs maxReplicas raised too, edit it by hand", h.name, h.file.path, max, o.appliedName, n)
	case !inside(h.file.path, t.dir):
		return nil, refuse("HorizontalPodAutoscaler %s scales %s, and it is declared in %s outside %s; patch it in the overlay by hand", h.name, o.appliedName, h.file.path, t.dir)
	}
	fe := &fileEdit{f: h.file, where: fmt.Sprintf("%s: HorizontalPodAutoscaler %s spec.minReplicas (the HPA scales %s %s; its minimum is raised)", h.file.path, h.name, o.kind, o.appliedName)}
	if minNode != nil {
		return fe, fe.replace(h.doc, minNode, []any{"spec", "minReplicas"}, strconv.Itoa(int(n)), "!!int")
	}
	specKey, _ := mapEntry(h.node, "spec")
	return fe, fe.insert(h.doc, specKey, spec, []any{"spec"}, []string{"minReplicas"}, int(n), strconv.Itoa(int(n)))
}

func planRestart(t *tree, o *object, ch Change) (*fileEdit, error) {
	if !inside(o.file.path, t.dir) {
		return nil, refuse("%s %s is declared in %s, outside %s, where other overlays may share it; add a patch in %s that sets the %s annotation", o.kind, o.name, o.file.path, t.dir, t.dir, restartedAtKey)
	}
	at := ch.At.Format(time.RFC3339)
	fe := &fileEdit{f: o.file, where: fmt.Sprintf("%s: %s %s spec.template.metadata.annotations[%s]", o.file.path, o.kind, o.name, restartedAtKey)}
	template, err := resolve(o.file, o.node, "spec", "template")
	if err != nil {
		return nil, err
	}
	return fe, fe.setAnnotation(o.doc, o.node, []string{"spec", "template"}, template, restartedAtKey, at)
}

// setAnnotation sets key in the metadata.annotations of the mapping m
// (found at path under top), adding the mappings that are missing.
func (fe *fileEdit) setAnnotation(doc int, top *yaml.Node, path []string, m *yaml.Node, key, value string) error {
	p := make([]any, 0, len(path)+3)
	for _, s := range path {
		p = append(p, s)
	}
	mKey := top
	if len(path) > 0 {
		parent := lookup(top, path[:len(path)-1]...)
		mKey, _ = mapEntry(parent, path[len(path)-1])
	}
	mdKey, md := mapEntry(m, "metadata")
	if md == nil {
		return fe.insert(doc, mKey, m, p, []string{"metadata", "annotations", key}, value, value)
	}
	annKey, ann := mapEntry(md, "annotations")
	if ann == nil {
		return fe.insert(doc, mdKey, md, append(p, "metadata"), []string{"annotations", key}, value, value)
	}
	if cur := lookup(ann, key); cur != nil {
		if cur.Value == value {
			return already("%s is already %s in the repository (%s); the cluster has not synced it yet", key, value, fe.f.path)
		}
		return fe.replace(doc, cur, append(p, "metadata", "annotations", key), value, "!!str")
	}
	return fe.insert(doc, annKey, ann, append(p, "metadata", "annotations"), []string{key}, value, value)
}

// planRemote handles a workload that only a remote base declares: the
// overlay's images or replicas entry is the one place to change it.
func planRemote(t *tree, ch Change) (*fileEdit, error) {
	k := t.top
	remote := strings.Join(t.remote, ", ")
	switch ch.Kind {
	case ChangeImage:
		if ch.From == "" {
			return nil, refuse("%s %s is declared in a remote base (%s), and without the image it runs now the images entry cannot be named; add an images entry to %s by hand", ch.Workload.Kind, ch.Workload.Name, remote, k.file.path)
		}
		repo := imageRepo(ch.From)
		for _, e := range k.images {
			if name := scalarAt(e, "name"); name == repo || scalarAt(e, "newName") == repo {
				ie := &imageEntry{k: k, node: e, matched: name}
				if ie.apply(ch.From) == ch.Image {
					return nil, already("%s already sets %s (images[%s]); the cluster has not synced it yet", k.file.path, ch.Image, name)
				}
				return editImageEntry(k, e, name, ch.Image)
			}
		}
		return addImageEntry(k, repo, ch.Image, "declared in the remote base "+remote)
	case ChangeReplicas:
		name := strings.TrimSuffix(strings.TrimPrefix(ch.Workload.Name, k.prefix), k.suffix)
		if e := replicaEntry(k, name, ch.Workload.Name); e != nil {
			if scalarAt(e, "count") == strconv.Itoa(int(ch.Replicas)) {
				return nil, already("%s already sets %d replicas for %s; the cluster has not synced it yet", k.file.path, ch.Replicas, name)
			}
			fe := &fileEdit{f: k.file, where: fmt.Sprintf("%s: replicas[%s].count", k.file.path, name)}
			_, v := mapEntry(e, "count")
			return fe, fe.replace(0, v, []any{"replicas", slices.Index(k.replicas, e), "count"}, strconv.Itoa(int(ch.Replicas)), "!!int")
		}
		fe := &fileEdit{f: k.file, where: fmt.Sprintf("%s: replicas[%s] added (the workload is declared in the remote base %s)", k.file.path, name, remote)}
		return fe, fe.appendItem(k.node, "replicas", [][2]string{{"name", name}, {"count", strconv.Itoa(int(ch.Replicas))}})
	}
	return nil, refuse("%s %s is declared in a remote base (%s); a restart needs a patch in %s that sets the %s annotation, add it by hand", ch.Workload.Kind, ch.Workload.Name, remote, k.dir, restartedAtKey)
}

// resolve follows keys from n and refuses what cannot be edited in
// place on the way: aliases, anchors (shared with other places) and
// merge keys.
func resolve(f *yamlFile, n *yaml.Node, keys ...string) (*yaml.Node, error) {
	for i, k := range keys {
		if err := plainNode(f, n, strings.Join(keys[:i], ".")); err != nil {
			return nil, err
		}
		_, v := mapEntry(n, k)
		if v == nil {
			if _, merge := mapEntry(n, "<<"); merge != nil {
				return nil, refuse("%s: %s comes through a YAML merge key (<<); edit it by hand", f.path, strings.Join(keys[:i+1], "."))
			}
			return nil, refuse("%s has no %s", f.path, strings.Join(keys[:i+1], "."))
		}
		n = v
	}
	if err := plainNode(f, n, strings.Join(keys, ".")); err != nil {
		return nil, err
	}
	return n, nil
}

// plainNode refuses an alias or an anchored node: editing it would
// change every place that shares it.
func plainNode(f *yamlFile, n *yaml.Node, what string) error {
	switch {
	case n == nil:
		return nil
	case n.Kind == yaml.AliasNode:
		return refuse("%s: %s is a YAML alias (*%s); edit the anchored value by hand", f.path, what, n.Value)
	case n.Anchor != "":
		return refuse("%s: %s carries a YAML anchor (&%s) that other places may share; edit it by hand", f.path, what, n.Anchor)
	}
	return nil
}

// replace rewrites a scalar's text in its own quoting style.
func (fe *fileEdit) replace(doc int, n *yaml.Node, p []any, value, tag string) error {
	start, end, err := fe.scalarSpan(n)
	if err != nil {
		return err
	}
	var v any = value
	if tag == "!!int" {
		i, _ := strconv.Atoi(value)
		v = i
	}
	fe.splices = append(fe.splices, splice{start, end, formatScalar(n, value, tag)})
	fe.ops = append(fe.ops, op{doc: doc, path: p, value: v})
	return nil
}

// scalarSpan finds the bytes of a scalar written on one line, plain or
// quoted; anything else is refused.
func (fe *fileEdit) scalarSpan(n *yaml.Node) (int, int, error) {
	f := fe.f
	switch {
	case n.Kind == yaml.AliasNode || n.Anchor != "":
		return 0, 0, plainNode(f, n, "the value")
	case n.Kind != yaml.ScalarNode:
		return 0, 0, refuse("%s:%d: the value is not a scalar", f.path, n.Line)
	case strings.Contains(n.Value, "{{"):
		return 0, 0, refuse("%s:%d: the value %q is a template expression; change what it is rendered from", f.path, n.Line, n.Value)
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		return 0, 0, refuse("%s:%d: the value is a block scalar (| or >); edit it by hand", f.path, n.Line)
	case n.Style&yaml.TaggedStyle != 0:
		return 0, 0, refuse("%s:%d: the value has an explicit tag (%s); edit it by hand", f.path, n.Line, n.Tag)
	}
	start := offset(f.data, n.Line, n.Column)
	if start < 0 {
		return 0, 0, fmt.Errorf("%s:%d:%d: position out of range", f.path, n.Line, n.Column)
	}
	d := f.data
	end := -1
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		for i := start + 1; i < len(d) && d[i] != '\n'; i++ {
			if d[i] == '\\' {
				i++
			} else if d[i] == '"' {
				end = i + 1
				break
			}
		}
	case n.Style&yaml.SingleQuotedStyle != 0:
		for i := start + 1; i < len(d) && d[i] != '\n'; i++ {
			if d[i] == '\'' {
				if i+1 < len(d) && d[i+1] == '\'' {
					i++
					continue
				}
				end = i + 1
				break
			}
		}
	default:
		if bytes.HasPrefix(d[start:], []byte(n.Value)) {
			end = start + len(n.Value)
			if end < len(d) && !bytes.ContainsRune([]byte(" \t\r\n,]}#:"), rune(d[end])) {
				end = -1
			}
		}
	}
	if end < 0 {
		return 0, 0, refuse("%s:%d: the value %q is written over several lines; edit it by hand", f.path, n.Line, n.Value)
	}
	// The text must read back as the value, or the position was wrong.
	var back string
	if err := yaml.Unmarshal(d[start:end], &back); err != nil || back != n.Value {
		return 0, 0, refuse("%s:%d: could not locate the value %q in the text; edit it by hand", f.path, n.Line, n.Value)
	}
	return start, end, nil
}

// offset converts yaml.v3's 1-based line and column (counted in
// characters) to a byte offset.
func offset(d []byte, line, col int) int {
	i := lineStart(d, line)
	if i < 0 {
		return -1
	}
	for c := 1; c < col; c++ {
		if i >= len(d) || d[i] == '\n' {
			return -1
		}
		_, w := utf8.DecodeRune(d[i:])
		i += w
	}
	return i
}

// lineStart is the offset of the 1-based line, len(d) for the line after
// a final newline, and -1 past that.
func lineStart(d []byte, line int) int {
	i := 0
	for l := 1; l < line; l++ {
		j := bytes.IndexByte(d[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
	}
	return i
}

// formatScalar writes value in the style the old scalar used; a plain
// scalar is quoted when the new value would read back as something
// else (a tag "1.10" is a number to YAML; a time, a timestamp).
func formatScalar(old *yaml.Node, value, tag string) string {
	switch {
	case old != nil && old.Style&yaml.DoubleQuotedStyle != 0:
		return strconv.Quote(value)
	case old != nil && old.Style&yaml.SingleQuotedStyle != 0 && !strings.ContainsAny(value, "\n"):
		return "'" + strings.ReplaceAll(value, "'", "''") + "'"
	case plainReadsAs(value, tag):
		return value
	}
	return strconv.Quote(value)
}

func plainReadsAs(value, tag string) bool {
	if value == "" || strings.ContainsAny(value, ",[]{}\n\"'") {
		return false
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(value), &n); err != nil || len(n.Content) != 1 {
		return false
	}
	s := n.Content[0]
	return s.Kind == yaml.ScalarNode && s.Style == 0 && s.ShortTag() == tag && s.Value == value
}

// insert adds keys (each nested in the one before, the last holding
// value) to the mapping m whose key node is mKey; m at path in doc.
// In a block mapping the lines go after the last entry when that is a
// one-line scalar, else before the first key; a flow mapping gets them
// after its "{"; an empty value (a key with nothing after it) gets them
// on the next line.
func (fe *fileEdit) insert(doc int, mKey, m *yaml.Node, p []any, keys []string, value any, text string) error {
	f := fe.f
	if strings.HasSuffix(strings.ToLower(f.path), ".json") {
		return refuse("%s is JSON; adding %s to it is not supported, edit it by hand", f.path, strings.Join(keys, "."))
	}
	tag := "!!str"
	if _, ok := value.(int); ok {
		tag = "!!int"
	}
	leaf := formatScalar(nil, text, tag)
	var full []any
	full = append(full, p...)
	for _, k := range keys {
		full = append(full, k)
	}
	fe.ops = append(fe.ops, op{doc: doc, path: full, value: value})

	block := func(ind, step int) string {
		var sb strings.Builder
		for i, k := range keys {
			sb.WriteString(strings.Repeat(" ", ind+i*step) + formatScalar(nil, k, "!!str") + ":")
			if i == len(keys)-1 {
				sb.WriteString(" " + leaf)
			}
			sb.WriteByte('\n')
		}
		return sb.String()
	}
	keyCol := 1
	if mKey != nil && mKey.Kind == yaml.ScalarNode {
		keyCol = mKey.Column
	}
	switch {
	case m.Kind == yaml.MappingNode && m.Style&yaml.FlowStyle != 0:
		at := offset(f.data, m.Line, m.Column)
		if at < 0 || f.data[at] != '{' {
			return refuse("%s:%d: could not locate the mapping's '{'; edit it by hand", f.path, m.Line)
		}
		t := leaf
		for i := len(keys) - 1; i >= 0; i-- {
			t = formatScalar(nil, keys[i], "!!str") + ": " + t
			if i > 0 {
				t = "{" + t + "}"
			}
		}
		if len(m.Content) > 0 {
			t += ", "
		}
		fe.splices = append(fe.splices, splice{at + 1, at + 1, t})
		return nil
	case m.Kind == yaml.MappingNode && len(m.Content) >= 2:
		first := m.Content[0]
		step := first.Column - keyCol
		if step <= 0 {
			step = 2
		}
		lastK, lastV := m.Content[len(m.Content)-2], m.Content[len(m.Content)-1]
		if lastV.Kind == yaml.ScalarNode && lastV.Line == lastK.Line && lastK.Column == first.Column {
			if _, _, err := fe.scalarSpan(lastV); err == nil {
				at, nl := afterLine(f.data, lastV.Line)
				fe.splices = append(fe.splices, splice{at, at, nl + block(first.Column-1, step)})
				return nil
			}
		}
		ls := lineStart(f.data, first.Line)
		at := offset(f.data, first.Line, first.Column)
		if ls < 0 || at < 0 || strings.TrimSpace(string(f.data[ls:at])) != "" {
			return refuse("%s:%d: the mapping does not start its own line; edit it by hand", f.path, first.Line)
		}
		fe.splices = append(fe.splices, splice{ls, ls, block(first.Column-1, step)})
		return nil
	case m.Kind == yaml.ScalarNode && m.ShortTag() == "!!null" && m.Value == "" && mKey != nil:
		at, nl := afterLine(f.data, mKey.Line)
		fe.splices = append(fe.splices, splice{at, at, nl + block(mKey.Column-1+2, 2)})
		return nil
	}
	return refuse("%s:%d: cannot add %s here (the value is not a mapping); edit it by hand", f.path, m.Line, strings.Join(keys, "."))
}

// afterLine is the offset just after a line, and the newline to write
// first when the file's last line has none.
func afterLine(d []byte, line int) (int, string) {
	i := lineStart(d, line+1)
	if i >= 0 {
		return i, ""
	}
	return len(d), "\n"
}

// setKey sets key in the block mapping e (an images entry) at path p,
// replacing its value or adding it after the entry's last line.
func (fe *fileEdit) setKey(e *yaml.Node, p []any, key, value string) error {
	if _, v := mapEntry(e, key); v != nil {
		return fe.replace(0, v, slices.Concat(p, []any{key}), value, "!!str")
	}
	return fe.insert(0, nil, e, p, []string{key}, value, value)
}

// swapKey sets key to value, writing it in place of drop when the entry
// has drop (a newTag where a digest was, or the reverse).
func (fe *fileEdit) swapKey(e *yaml.Node, p []any, drop, key, value string) error {
	dk, dv := mapEntry(e, drop)
	if dk == nil {
		return fe.setKey(e, p, key, value)
	}
	if _, v := mapEntry(e, key); v != nil {
		return refuse("%s:%d: the images entry has both %s and %s; edit it by hand", fe.f.path, dk.Line, key, drop)
	}
	ks, _, err := fe.scalarSpan(dk)
	if err != nil {
		return err
	}
	_, ve, err := fe.scalarSpan(dv)
	if err != nil {
		return err
	}
	if dk.Line != dv.Line {
		return refuse("%s:%d: %s and its value are on different lines; edit it by hand", fe.f.path, dk.Line, drop)
	}
	fe.splices = append(fe.splices, splice{ks, ve, key + ": " + formatScalar(dv, value, "!!str")})
	fe.ops = append(fe.ops, op{doc: 0, path: slices.Concat(p, []any{drop}), del: true},
		op{doc: 0, path: slices.Concat(p, []any{key}), value: value})
	return nil
}

// appendItem appends a mapping of fields to the top-level list key of a
// kustomization, adding the key at the end of the file when absent.
// fields are written in order; "count" is a number.
func (fe *fileEdit) appendItem(top *yaml.Node, key string, fields [][2]string) error {
	f := fe.f
	item := map[string]any{}
	for _, kv := range fields {
		if kv[0] == "count" {
			n, _ := strconv.Atoi(kv[1])
			item[kv[0]] = n
		} else {
			item[kv[0]] = kv[1]
		}
	}
	text := func(dash, keyInd int) string {
		var sb strings.Builder
		for i, kv := range fields {
			tag := "!!str"
			if kv[0] == "count" {
				tag = "!!int"
			}
			if i == 0 {
				sb.WriteString(strings.Repeat(" ", dash) + "-" + strings.Repeat(" ", keyInd-dash-1))
			} else {
				sb.WriteString(strings.Repeat(" ", keyInd))
			}
			sb.WriteString(kv[0] + ": " + formatScalar(nil, kv[1], tag) + "\n")
		}
		return sb.String()
	}
	_, seq := mapEntry(top, key)
	if seq == nil {
		// A new list follows the file's own sequence indentation.
		dash := 0
		for i := 1; i < len(top.Content); i += 2 {
			if s := top.Content[i]; s.Kind == yaml.SequenceNode && s.Style&yaml.FlowStyle == 0 && len(s.Content) > 0 {
				if d, ok := dashColumn(f.data, s.Content[0]); ok {
					dash = d
					break
				}
			}
		}
		nl := ""
		if len(f.data) > 0 && f.data[len(f.data)-1] != '\n' {
			nl = "\n"
		}
		fe.splices = append(fe.splices, splice{len(f.data), len(f.data), nl + key + ":\n" + text(dash, dash+2)})
		fe.ops = append(fe.ops, op{path: []any{key}, value: []any{item}})
		return nil
	}
	if seq.Kind != yaml.SequenceNode || seq.Style&yaml.FlowStyle != 0 || len(seq.Content) == 0 {
		return refuse("%s: %s is not a block list; add the entry by hand", f.path, key)
	}
	if err := plainNode(f, seq, key); err != nil {
		return err
	}
	dash, ok := dashColumn(f.data, seq.Content[0])
	if !ok {
		return refuse("%s:%d: could not read the list's indentation; add the entry by hand", f.path, seq.Line)
	}
	last := seq.Content[len(seq.Content)-1]
	end, err := fe.lastLine(last)
	if err != nil {
		return err
	}
	at, nl := afterLine(f.data, end)
	fe.splices = append(fe.splices, splice{at, at, nl + text(dash, seq.Content[0].Column-1)})
	fe.ops = append(fe.ops, op{path: []any{key, len(seq.Content)}, value: item})
	return nil
}

// dashColumn is the 0-based column of the "-" before a list item.
func dashColumn(d []byte, item *yaml.Node) (int, bool) {
	ls := lineStart(d, item.Line)
	at := offset(d, item.Line, item.Column)
	if ls < 0 || at < 0 {
		return 0, false
	}
	prefix := string(d[ls:at])
	i := strings.Index(prefix, "-")
	if i < 0 || strings.TrimSpace(prefix[:i]) != "" || strings.TrimSpace(prefix[i+1:]) != "" {
		return 0, false
	}
	return i, true
}

// lastLine is the last line a node's text takes, for nodes made of
// one-line scalars (what images and replicas entries are).
func (fe *fileEdit) lastLine(n *yaml.Node) (int, error) {
	if n.Kind == yaml.ScalarNode {
		if _, _, err := fe.scalarSpan(n); err != nil {
			return 0, err
		}
		return n.Line, nil
	}
	if n.Kind == yaml.MappingNode && n.Style&yaml.FlowStyle != 0 {
		return 0, refuse("%s:%d: the last entry is a flow mapping; add the entry by hand", fe.f.path, n.Line)
	}
	end := n.Line
	for _, c := range n.Content {
		l, err := fe.lastLine(c)
		if err != nil {
			return 0, err
		}
		end = max(end, l)
	}
	return end, nil
}

// planHelm edits a chart's values files: the chart's templates are not
// rendered, so the change goes to the values key that holds the value.
func planHelm(root, dir string, src Source, ch Change) (*fileEdit, error) {
	names := []string{"values.yaml"}
	if src.Helm != nil && len(src.Helm.ValueFiles) > 0 {
		names = src.Helm.ValueFiles
	}
	var files []*yamlFile
	for _, n := range names {
		p, err := cleanDir(filepath.ToSlash(filepath.Join(dir, n)))
		if err != nil {
			return nil, err
		}
		if isRemote(n) {
			return nil, refuse("values file %s is remote; change it where it lives", n)
		}
		f, err := parseFile(root, p)
		if err != nil {
			return nil, fmt.Errorf("read the chart's values: %w", err)
		}
		if len(f.docs) == 0 || f.docs[0] == nil {
			continue
		}
		files = append(files, f)
	}
	var searched []string
	for _, f := range files {
		searched = append(searched, f.path)
	}
	in := strings.Join(searched, ", ")
	// Names a values key may be scoped by: the workload, its container.
	scopes := []string{ch.Workload.Name, ch.Container}
	switch ch.Kind {
	case ChangeImage:
		return planHelmImage(files, ch, scopes, in)
	case ChangeReplicas:
		return planHelmReplicas(files, ch, scopes, in)
	}
	return planHelmRestart(files, ch, scopes, in)
}

// valueHit is a values key found for a change.
type valueHit struct {
	f    *yamlFile
	path []any
	node *yaml.Node // the scalar to change, or the mapping to add to
	key  *yaml.Node
	// repo is the sibling repository scalar of a tag, if any.
	repo *yaml.Node
}

func pathString(p []any) string {
	var sb strings.Builder
	for _, e := range p {
		switch e := e.(type) {
		case string:
			if sb.Len() > 0 {
				sb.WriteByte('.')
			}
			sb.WriteString(e)
		case int:
			fmt.Fprintf(&sb, "[%d]", e)
		}
	}
	return sb.String()
}

// walkValues calls fn for every mapping in a values file with its path.
func walkValues(n *yaml.Node, p []any, fn func(m *yaml.Node, p []any)) {
	switch n.Kind {
	case yaml.MappingNode:
		fn(n, p)
		for i := 0; i+1 < len(n.Content); i += 2 {
			walkValues(n.Content[i+1], slices.Concat(p, []any{n.Content[i].Value}), fn)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			walkValues(c, slices.Concat(p, []any{i}), fn)
		}
	}
}

// lastByPath keeps, for each key path, the hit in the last values file:
// Helm merges later files over earlier ones.
func lastByPath(hits []valueHit) []valueHit {
	var out []valueHit
	idx := map[string]int{}
	for _, h := range hits {
		k := pathString(h.path)
		if i, ok := idx[k]; ok {
			out[i] = h
			continue
		}
		idx[k] = len(out)
		out = append(out, h)
	}
	return out
}

func hitList(hits []valueHit) string {
	var s []string
	for _, h := range hits {
		s = append(s, h.f.path+": "+pathString(h.path))
	}
	return strings.Join(s, ", ")
}

// imageHits finds the values that hold image (repository and tag): a
// mapping whose tag is the tag and whose repository (or image, with an
// optional registry) names the repository, a tag under a key path that
// names the workload or container, or an image string written whole.
func imageHits(files []*yamlFile, image string, scopes []string) []valueHit {
	repo, tag, _ := splitImage(image)
	var hits []valueHit
	for _, f := range files {
		walkValues(f.docs[0], nil, func(m *yaml.Node, p []any) {
			for i := 0; i+1 < len(m.Content); i += 2 {
				k, v := m.Content[i], m.Content[i+1]
				if k.Value == "image" && v.Kind == yaml.ScalarNode && v.Value == image {
					hits = append(hits, valueHit{f: f, path: slices.Concat(p, []any{"image"}), node: v, key: k})
				}
			}
			tk, tv := mapEntry(m, "tag")
			if tag == "" || tv == nil || tv.Kind != yaml.ScalarNode || tv.Value != tag {
				return
			}
			h := valueHit{f: f, path: slices.Concat(p, []any{"tag"}), node: tv, key: tk}
			for _, rk := range []string{"repository", "image", "name"} {
				if _, rv := mapEntry(m, rk); rv != nil && rv.Kind == yaml.ScalarNode && rv.Value != "" {
					r := rv.Value
					if reg := scalarAt(m, "registry"); reg != "" {
						r = strings.TrimSuffix(reg, "/") + "/" + r
					}
					if r == repo || strings.HasSuffix(repo, "/"+r) {
						h.repo = rv
						hits = append(hits, h)
					}
					return
				}
			}
			for _, e := range p {
				if s, ok := e.(string); ok && s != "" && slices.Contains(scopes, s) {
					hits = append(hits, h)
					return
				}
			}
		})
	}
	return lastByPath(hits)
}

func planHelmImage(files []*yamlFile, ch Change, scopes []string, in string) (*fileEdit, error) {
	if ch.From == "" {
		return nil, refuse("finding the values key of an image needs the image the cluster runs now (Change.From); edit %s by hand", in)
	}
	fromRepo, fromTag, _ := splitImage(ch.From)
	repo, tag, digest := splitImage(ch.Image)
	hits := imageHits(files, ch.From, scopes)
	if len(hits) == 0 {
		if done := imageHits(files, ch.Image, scopes); len(done) == 1 {
			return nil, already("%s is already %s in the repository (%s); the cluster has not synced it yet", ch.Workload.Name, ch.Image, hitList(done))
		}
		return nil, refuse("no values key holds the tag %s of %s in %s; the chart may template it from something else", fromTag, fromRepo, in)
	}
	if len(hits) > 1 {
		return nil, refuse("several values keys hold the tag %s of %s (%s); say which one, or edit by hand", fromTag, fromRepo, hitList(hits))
	}
	h := hits[0]
	fe := &fileEdit{f: h.f, where: h.f.path + ": " + pathString(h.path)}
	if h.key.Value == "image" && h.node.Value == ch.From {
		return fe, fe.replace(0, h.node, h.path, ch.Image, "!!str")
	}
	if digest != "" {
		return nil, refuse("%s: the chart takes a tag (%s), and %s is a digest; edit the values by hand", h.f.path, pathString(h.path), ch.Image)
	}
	if repo != fromRepo {
		if h.repo == nil || h.repo.Value != fromRepo {
			return nil, refuse("%s: the image moves from %s to %s, and the values hold the repository in a form this cannot rewrite; edit by hand", h.f.path, fromRepo, repo)
		}
		rp := slices.Concat(h.path[:len(h.path)-1], []any{"repository"})
		if err := fe.replace(0, h.repo, rp, repo, "!!str"); err != nil {
			return nil, err
		}
		fe.where += " and repository"
	}
	return fe, fe.replace(0, h.node, h.path, tag, "!!str")
}

// scopedKey finds key at the top of the values or under a key that
// names the workload (also its last dash-separated part: a release
// "shop-checkout" with a "checkout" section) or the container.
func scopedKey(files []*yamlFile, key string, scopes []string) []valueHit {
	var hits []valueHit
	for _, f := range files {
		top := f.docs[0]
		if k, v := mapEntry(top, key); v != nil {
			hits = append(hits, valueHit{f: f, path: []any{key}, node: v, key: k})
		}
		for i := 0; i+1 < len(top.Content); i += 2 {
			s := top.Content[i].Value
			if !scoped(s, scopes) {
				continue
			}
			if k, v := mapEntry(top.Content[i+1], key); v != nil {
				hits = append(hits, valueHit{f: f, path: []any{s, key}, node: v, key: k})
			}
		}
	}
	return lastByPath(hits)
}

func scoped(s string, scopes []string) bool {
	for _, sc := range scopes {
		if sc != "" && (s == sc || strings.HasSuffix(sc, "-"+s)) {
			return true
		}
	}
	return false
}

func planHelmReplicas(files []*yamlFile, ch Change, scopes []string, in string) (*fileEdit, error) {
	n := strconv.Itoa(int(ch.Replicas))
	// The common chart layout (helm create) leaves replicas to an HPA
	// when autoscaling.enabled is true.
	for _, h := range scopedKey(files, "autoscaling", scopes) {
		if scalarAt(h.node, "enabled") != "true" {
			continue
		}
		_, minNode := mapEntry(h.node, "minReplicas")
		if minNode == nil {
			return nil, refuse("%s: %s.enabled is true and it has no minReplicas; edit it by hand", h.f.path, pathString(h.path))
		}
		min, _ := strconv.Atoi(minNode.Value)
		switch {
		case int(ch.Replicas) == min:
			return nil, already("%s.minReplicas is already %s in the repository (%s); the cluster has not synced it yet", pathString(h.path), n, h.f.path)
		case int(ch.Replicas) < min:
			return nil, refuse("%s: the chart's autoscaler keeps at least %d replicas; lowering it is a change to the autoscaling values, edit it by hand", h.f.path, min)
		}
		if max, err := strconv.Atoi(scalarAt(h.node, "maxReplicas")); err == nil && int(ch.Replicas) > max {
			return nil, refuse("%s: the chart's autoscaler allows at most %d replicas; raising its minimum to %s needs maxReplicas raised too, edit it by hand", h.f.path, max, n)
		}
		p := slices.Concat(h.path, []any{"minReplicas"})
		fe := &fileEdit{f: h.f, where: h.f.path + ": " + pathString(p) + " (autoscaling is enabled; its minimum is raised)"}
		return fe, fe.replace(0, minNode, p, n, "!!int")
	}
	hits := scopedKey(files, "replicaCount", scopes)
	switch {
	case len(hits) == 0:
		return nil, refuse("no replicaCount (or %s.replicaCount) in %s; the chart may set replicas from something else", ch.Workload.Name, in)
	case len(hits) > 1:
		return nil, refuse("several values keys could be the replica count (%s); edit by hand", hitList(hits))
	}
	h := hits[0]
	if h.node.Value == n {
		return nil, already("%s is already %s in the repository (%s); the cluster has not synced it yet", pathString(h.path), n, h.f.path)
	}
	fe := &fileEdit{f: h.f, where: h.f.path + ": " + pathString(h.path)}
	return fe, fe.replace(0, h.node, h.path, n, "!!int")
}

func planHelmRestart(files []*yamlFile, ch Change, scopes []string, in string) (*fileEdit, error) {
	hits := scopedKey(files, "podAnnotations", scopes)
	switch {
	case len(hits) == 0:
		return nil, refuse("no podAnnotations in %s; the chart does not let values annotate its pods, so a restart needs a chart change (or kubectl rollout restart)", in)
	case len(hits) > 1:
		return nil, refuse("several podAnnotations keys (%s); edit by hand", hitList(hits))
	}
	h := hits[0]
	at := ch.At.Format(time.RFC3339)
	fe := &fileEdit{f: h.f, where: fmt.Sprintf("%s: %s[%s]", h.f.path, pathString(h.path), restartedAtKey)}
	if err := plainNode(h.f, h.node, pathString(h.path)); err != nil {
		return nil, err
	}
	if cur := lookup(h.node, restartedAtKey); cur != nil {
		if cur.Value == at {
			return nil, already("%s is already %s in the repository (%s); the cluster has not synced it yet", restartedAtKey, at, h.f.path)
		}
		return fe, fe.replace(0, cur, slices.Concat(h.path, []any{restartedAtKey}), at, "!!str")
	}
	return fe, fe.insert(0, h.key, h.node, h.path, []string{restartedAtKey}, at, at)
}
