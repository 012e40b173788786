//! Web Push subscriptions of paired devices (the phone page's "needs you" messages).
//! A subscription belongs to a device: a revoked device's subscriptions are deleted with
//! it, and one the push service calls gone (404/410) is forgotten.

use super::{Result, Store, now_str};
use rusqlite::params;
use serde::{Deserialize, Serialize};

/// A browser's `PushSubscription`, as `subscription.toJSON()` gives it (keys base64url).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Subscription {
    pub endpoint: String,
    pub keys: SubscriptionKeys,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct SubscriptionKeys {
    pub p256dh: String,
    pub auth: String,
}

impl Store {
    /// Keep `sub` for `device` (the same endpoint sent again replaces its keys and owner).
    pub fn add_push_subscription(&self, device: i64, sub: &Subscription) -> Result<()> {
        self.db().execute(
            "INSERT INTO push_subscriptions (device_id, endpoint, p256dh, auth, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (endpoint) DO UPDATE SET device_id = ?1, p256dh = ?3, auth = ?4",
            params![device, sub.endpoint, sub.keys.p256dh, sub.keys.auth, now_str()],
        )?;
        Ok(())
    }

    /// The subscriptions of devices that are not revoked.
    pub fn push_subscriptions(&self) -> Result<Vec<Subscription>> {
        let conn = self.db();
        let mut st = conn.prepare(
            "SELECT s.endpoint, s.p256dh, s.auth FROM push_subscriptions s JOIN devices d ON d.id = s.device_id
             WHERE d.revoked_at IS NULL ORDER BY s.id",
        )?;
        let rows = st
            .query_map([], |r| Ok(Subscription { endpoint: r.get(0)?, keys: SubscriptionKeys { p256dh: r.get(1)?, auth: r.get(2)? } }))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Forget a subscription; whether there was one.
    pub fn remove_push_subscription(&self, endpoint: &str) -> Result<bool> {
        Ok(self.db().execute("DELETE FROM push_subscriptions WHERE endpoint = ?1", [endpoint])? > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(endpoint: &str) -> Subscription {
        Subscription { endpoint: endpoint.into(), keys: SubscriptionKeys { p256dh: "k".into(), auth: "a".into() } }
    }

    #[test]
    fn subscriptions_follow_their_device_and_can_be_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("capcom.db")).unwrap();
        let later = chrono::Utc::now() + chrono::Duration::minutes(5);
        s.add_pairing_code("AAAA", later).unwrap();
        s.add_pairing_code("BBBB", later).unwrap();
        let phone = s.redeem_pairing_code("AAAA", "phone", "t1", chrono::Utc::now()).unwrap().unwrap();
        let tablet = s.redeem_pairing_code("BBBB", "tablet", "t2", chrono::Utc::now()).unwrap().unwrap();
        s.add_push_subscription(phone.id, &sub("https://p/1")).unwrap();
        s.add_push_subscription(tablet.id, &sub("https://p/2")).unwrap();
        let mut again = sub("https://p/2");
        again.keys.auth = "b".into();
        s.add_push_subscription(tablet.id, &again).unwrap();
        assert_eq!(s.push_subscriptions().unwrap(), vec![sub("https://p/1"), again], "the same endpoint sent again replaces its keys");
        assert!(s.revoke_device("phone").unwrap());
        assert_eq!(s.push_subscriptions().unwrap().len(), 1, "a revoked device's subscription is deleted");
        assert!(s.remove_push_subscription("https://p/2").unwrap());
        assert!(!s.remove_push_subscription("https://p/2").unwrap());
        assert!(s.push_subscriptions().unwrap().is_empty());
    }
}
