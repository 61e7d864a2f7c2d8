package keystore

import (
	"reflect"
	"strings"
	"testing"
)

// TestKeyedMap_ShortAndLongKeys: keys up to shortKeyBytes are held inline,
// longer ones as strings; keys that differ only in length or in their last
// byte are different keys; the map never holds more than its bound.
func TestKeyedMap_ShortAndLongKeys(t *testing.T) {
	m := newKeyedMap[int]()
	keys := [][]byte{
		[]byte("a"),
		[]byte("a\x00"), // the inline array is zero-padded: length tells them apart
		[]byte(strings.Repeat("k", shortKeyBytes)),
		[]byte(strings.Repeat("k", shortKeyBytes-1) + "j"),
		[]byte(strings.Repeat("k", shortKeyBytes+1)),
		[]byte(strings.Repeat("k", 300)),
	}
	for i, k := range keys {
		m.add(k, i, 100)
	}
	if len(m.short) != 4 || len(m.long) != 2 {
		t.Fatalf("%d inline and %d string keys, want 4 and 2", len(m.short), len(m.long))
	}
	for i, k := range keys {
		if v, ok := m.get(k); !ok || v != i {
			t.Errorf("key %d (%d bytes): %d, %v", i, len(k), v, ok)
		}
	}
	if _, ok := m.get([]byte{}); ok {
		t.Error("the empty key was found")
	}
	m.add(keys[0], 99, 100) // present: kept as it was
	if v, _ := m.get(keys[0]); v != 0 {
		t.Errorf("a second add replaced the value: %d", v)
	}
	for i := range 50 {
		m.add([]byte{byte(i), 1}, i, 10)
		if n := m.len(); n > 10 {
			t.Fatalf("map holds %d entries, bound 10", n)
		}
	}
}

// The cache's inline keys and values hold no pointers: the garbage
// collector then never scans its maps.
func TestCache_PointerFree(t *testing.T) {
	for _, v := range []any{shortKey{}, cachedRecord{}, int64(0)} {
		if p := pointerPath(reflect.TypeOf(v)); p != "" {
			t.Errorf("%T holds a pointer at %s", v, p)
		}
	}
	if size := reflect.TypeOf(shortKey{}).Size(); size > 128 {
		t.Errorf("shortKey is %d bytes: over 128, a map stores it behind a pointer", size)
	}
}

// pointerPath names a field of t that is or holds a pointer, or "".
func pointerPath(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return ""
	case reflect.Array:
		if p := pointerPath(t.Elem()); p != "" {
			return "[]" + p
		}
		return ""
	case reflect.Struct:
		for i := range t.NumField() {
			if p := pointerPath(t.Field(i).Type); p != "" {
				return "." + t.Field(i).Name + p
			}
		}
		return ""
	}
	return " (" + t.Kind().String() + ")"
}
