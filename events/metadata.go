package events

import (
	"encoding/json"
	"fmt"
	"strings"
)

// AttrMetadataPrefix starts the attributes lifted from user_metadata:
// user_metadata.tenant = "acme" becomes the attribute meta_tenant=acme, for
// subscription filters such as attributes.meta_tenant = "acme".
const AttrMetadataPrefix = "meta_"

// Limits of metadata routing. Pub/Sub allows 100 attributes per message;
// a handful of routing keys leaves the rest for the CloudEvents context.
const (
	MaxMetadataAttributes = 8
	MaxMetadataKeyBytes   = 64
)

// ErrMetadataKey is returned by CheckMetadataKeys for a key that cannot
// become an attribute.
var ErrMetadataKey = fmt.Errorf("events: invalid user_metadata routing key")

// CheckMetadataKeys validates the user_metadata keys to lift into
// attributes: at most MaxMetadataAttributes distinct keys of 1 to
// MaxMetadataKeyBytes of A-Z a-z 0-9 _ -, so that prefixed with
// AttrMetadataPrefix they are valid attribute keys that a subscription
// filter can name without quoting.
func CheckMetadataKeys(keys []string) error {
	if len(keys) > MaxMetadataAttributes {
		return fmt.Errorf("%w: %d keys, at most %d", ErrMetadataKey, len(keys), MaxMetadataAttributes)
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if k == "" || len(k) > MaxMetadataKeyBytes {
			return fmt.Errorf("%w: %q: want 1 to %d characters", ErrMetadataKey, k, MaxMetadataKeyBytes)
		}
		for i := 0; i < len(k); i++ {
			c := k[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				return fmt.Errorf("%w: %q: only A-Z a-z 0-9 _ - allowed", ErrMetadataKey, k)
			}
		}
		if seen[k] {
			return fmt.Errorf("%w: %q given twice", ErrMetadataKey, k)
		}
		seen[k] = true
	}
	return nil
}

// MessageWith is Message with the string values of the user_metadata keys
// in metadataKeys lifted into attributes (AttrMetadataPrefix + key), cut to
// MaxAttributeValueBytes like every attribute. A key that is absent, or
// whose value is not a JSON string, adds no attribute; the event JSON is the
// same as Message's. The keys must pass CheckMetadataKeys.
func (e Event) MessageWith(metadataKeys []string) (Message, error) {
	return e.messageWith(metadataKeys, nil)
}

// messageWith is MessageWith; v is as for appendJSON.
func (e Event) messageWith(metadataKeys []string, v *validated) (Message, error) {
	m, err := e.message(v)
	if err != nil || len(metadataKeys) == 0 || len(e.UserMetadata) == 0 {
		return m, err
	}
	var md map[string]json.RawMessage
	if json.Unmarshal(e.UserMetadata, &md) != nil {
		return m, nil // not an object: nothing to lift
	}
	a := attrSet{m: m.Attributes}
	if t := m.Attributes[AttrTruncated]; t != "" {
		a.truncated = strings.Split(t, ",")
	}
	for _, k := range metadataKeys {
		raw, ok := md[k]
		if !ok || len(raw) == 0 || raw[0] != '"' {
			continue
		}
		var v string
		if json.Unmarshal(raw, &v) != nil {
			continue
		}
		a.set(AttrMetadataPrefix+k, v)
	}
	a.finish()
	if n := messageSize(m.Data, a.m); n > MaxMessageBytes {
		return Message{}, fmt.Errorf("%w: message of %d bytes, limit %d", ErrTooLarge, n, MaxMessageBytes)
	}
	return m, nil
}

// metadataAttributes returns the lifted user_metadata attributes of a
// message, keyed without the prefix; nil when there are none.
func metadataAttributes(attrs map[string]string) map[string]string {
	var out map[string]string
	for k, v := range attrs {
		if key, ok := strings.CutPrefix(k, AttrMetadataPrefix); ok && key != "" {
			if out == nil {
				out = map[string]string{}
			}
			out[key] = v
		}
	}
	return out
}
