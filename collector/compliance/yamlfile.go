package compliance

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// policyNodes keeps each policy's YAML node so errors found after decoding
// (validation, CEL compilation) can still name a line.
type policyNodes []*yaml.Node

// find returns the line of a field path ("params.days") in policy i: the
// deepest key of the path present, else the policy's own line.
func (ns policyNodes) find(i int, field string) int {
	if i < 0 || i >= len(ns) {
		return 0
	}
	n, line := ns[i], ns[i].Line
	for _, key := range strings.Split(field, ".") {
		v, k := mappingValue(n, key)
		if v == nil {
			break
		}
		n, line = v, k.Line
	}
	return line
}

// mappingValue returns the value and key nodes of key in a mapping node.
func mappingValue(n *yaml.Node, key string) (value, keyNode *yaml.Node) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1], n.Content[i]
		}
	}
	return nil, nil
}

// decodeFile decodes a policy file strictly. yaml.v3's KnownFields cannot be
// used here: it applies to a Decoder, not to Node.Decode, and decoding from
// nodes is what keeps the line numbers. So unknown keys are found by
// checkKnown against the yaml tags of the target types.
func decodeFile(data []byte, filename string) ([]Policy, policyNodes, error) {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, nil // an empty file: no policies
		}
		return nil, nil, fmt.Errorf("%s: %w", filename, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("%s: only one YAML document is allowed", filename)
	}
	if len(doc.Content) == 0 {
		return nil, nil, nil
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("%s:%d: want a mapping with a policies list", filename, top.Line)
	}
	// Only the top keys here: each policy is checked below, with its id.
	for i := 0; i+1 < len(top.Content); i += 2 {
		if k := top.Content[i]; k.Value != "policies" {
			return nil, nil, fmt.Errorf("%s:%w", filename, &unknownKeyError{line: k.Line, path: k.Value})
		}
	}
	list, _ := mappingValue(top, "policies")
	if list == nil || (list.Kind == yaml.ScalarNode && list.Tag == "!!null") {
		return nil, nil, nil
	}
	if list.Kind != yaml.SequenceNode {
		return nil, nil, fmt.Errorf("%s:%d: policies must be a list", filename, list.Line)
	}
	policies := make([]Policy, 0, len(list.Content))
	nodes := make(policyNodes, 0, len(list.Content))
	for i, n := range list.Content {
		id := fmt.Sprintf("#%d", i+1)
		if v, _ := mappingValue(n, "id"); v != nil && v.Kind == yaml.ScalarNode && v.Value != "" {
			id = v.Value
		}
		if n.Kind != yaml.MappingNode {
			return nil, nil, fmt.Errorf("%s:%d: policy %s: want a mapping", filename, n.Line, id)
		}
		if err := checkKnown(n, reflect.TypeFor[Policy](), ""); err != nil {
			return nil, nil, fmt.Errorf("%s:%w", filename, withPolicy(err, id))
		}
		var p Policy
		if err := n.Decode(&p); err != nil {
			return nil, nil, fmt.Errorf("%s:%d: policy %s: %s", filename, n.Line, id, yamlMessage(err))
		}
		policies = append(policies, p)
		nodes = append(nodes, n)
	}
	return policies, nodes, nil
}

// unknownKeyError is an unknown key at a line; it prints as "LINE: ...".
type unknownKeyError struct {
	line     int
	path     string
	policyID string
}

func (e *unknownKeyError) Error() string {
	if e.policyID != "" {
		return fmt.Sprintf("%d: policy %s: unknown key %q", e.line, e.policyID, e.path)
	}
	return fmt.Sprintf("%d: unknown key %q", e.line, e.path)
}

func withPolicy(err error, id string) error {
	var uk *unknownKeyError
	if errors.As(err, &uk) {
		uk.policyID = id
	}
	return err
}

// checkKnown reports the first mapping key in n that the type t has no
// yaml field for, recursing through structs, slices and maps.
func checkKnown(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil // a type mismatch; Node.Decode reports it with its line
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			f, ok := yamlField(t, key)
			if !ok {
				return &unknownKeyError{line: n.Content[i].Line, path: path + key}
			}
			if err := checkKnown(n.Content[i+1], f.Type, path+key+"."); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind == yaml.SequenceNode {
			for _, e := range n.Content {
				if err := checkKnown(e, t.Elem(), path); err != nil {
					return err
				}
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 1; i < len(n.Content); i += 2 {
				if err := checkKnown(n.Content[i], t.Elem(), path+n.Content[i-1].Value+"."); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// yamlField finds the struct field whose yaml tag names key.
func yamlField(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == key && name != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// yamlMessage shortens yaml.v3's multi-line "unmarshal errors" to one line.
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return strings.Join(te.Errors, "; ")
	}
	return err.Error()
}
