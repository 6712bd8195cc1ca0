package events

import (
	"bytes"
	_ "embed" // the event schema ships with the package
)

//go:embed schema/event.v1.json
var schemaV1 []byte

// JSONSchema returns the JSON Schema (draft 2020-12) of the event data of
// schema version SchemaVersion; its $id is DataSchema. A consumer can
// validate messages with it. The slice is a fresh copy.
func JSONSchema() []byte { return bytes.Clone(schemaV1) }
