//! Deep merge of wire-format JSON, used to lay data-file entries over the
//! built-in defaults.

use serde_json::{Map, Value};

/// Lays `overlay` over `base`: objects merge member by member (recursively),
/// anything else (arrays, scalars) replaces, and a `null` in the overlay
/// removes the member from the result.
pub fn merge_into(base: &mut Map<String, Value>, overlay: &Map<String, Value>) {
    for (key, value) in overlay {
        match value {
            Value::Null => {
                base.remove(key);
            }
            Value::Object(over) => match base.get_mut(key) {
                Some(Value::Object(existing)) => merge_into(existing, over),
                _ => {
                    let mut fresh = Map::new();
                    merge_into(&mut fresh, over);
                    base.insert(key.clone(), Value::Object(fresh));
                }
            },
            other => {
                base.insert(key.clone(), other.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn merges_deeply() {
        let mut base = obj(json!({
            "a": 1,
            "auth": {"isOAuth2Supported": false, "isBasicAuthSupported": true, "list": [1, 2]},
            "gone": "x"
        }));
        merge_into(
            &mut base,
            &obj(json!({
                "auth": {"isOAuth2Supported": true, "list": [3], "isBasicAuthSupported": null},
                "gone": null,
                "new": {"k": {"n": null, "m": 1}}
            })),
        );
        assert_eq!(
            Value::Object(base),
            json!({
                "a": 1,
                "auth": {"isOAuth2Supported": true, "list": [3]},
                "new": {"k": {"m": 1}}
            })
        );
    }
}
