//! Who may do what: roles, permissions, and the rules for names and passwords.
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
    Auditor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Operator, Role::Auditor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Auditor => "auditor",
            Self::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw.trim())
    }

    pub fn allows(self, permission: Permission) -> bool {
        match permission {
            Permission::ViewWall | Permission::ViewDashboards => true,
            Permission::Operate => matches!(self, Self::Operator | Self::Admin),
            Permission::ReadAudit => matches!(self, Self::Auditor | Self::Admin),
            Permission::Administer => self == Self::Admin,
        }
    }

    /// The role that allows exactly what both allow: a token never does more than the person
    /// who made it can do now.
    pub fn meet(self, other: Role) -> Role {
        match (self, other) {
            (a, b) if a == b => a,
            (Self::Admin, other) | (other, Self::Admin) => other,
            _ => Self::Viewer,
        }
    }
}

/// What a request needs. Every server function and route names exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Permission {
    /// The wall and its live feed; a kiosk token grants only this.
    ViewWall,
    /// Every read-only page.
    ViewDashboards,
    /// Acknowledging alerts, running incidents, deploy markers, demo faults.
    Operate,
    /// The audit log and its export.
    ReadAudit,
    /// Targets, rules, channels, users, tokens and backups.
    Administer,
}

/// The kind of credential a request came with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrincipalKind {
    User { id: i64, must_reset: bool },
    ApiToken { id: i64, scopes: Vec<TokenScope> },
    Kiosk { id: i64 },
}

/// The authenticated party behind a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The name written to the audit log: a username, `token:NAME` or `kiosk:NAME`.
    pub actor: String,
    pub role: Role,
    pub kind: PrincipalKind,
}

impl Principal {
    pub fn allows(&self, permission: Permission) -> bool {
        match self.kind {
            PrincipalKind::Kiosk { .. } => permission == Permission::ViewWall,
            // Until the password is changed, nothing but the password form is open.
            PrincipalKind::User {
                must_reset: true, ..
            } => false,
            _ => self.role.allows(permission),
        }
    }

    pub fn must_reset(&self) -> bool {
        matches!(
            self.kind,
            PrincipalKind::User {
                must_reset: true,
                ..
            }
        )
    }
}

/// What the browser needs to know about who is signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub name: String,
    pub role: Role,
    pub must_reset: bool,
    pub kiosk: bool,
}

impl Viewer {
    pub fn from_principal(principal: &Principal) -> Self {
        Self {
            name: principal.actor.clone(),
            role: principal.role,
            must_reset: principal.must_reset(),
            kiosk: matches!(principal.kind, PrincipalKind::Kiosk { .. }),
        }
    }

    pub fn allows(&self, permission: Permission) -> bool {
        if self.kiosk {
            return permission == Permission::ViewWall;
        }
        !self.must_reset && self.role.allows(permission)
    }
}

pub const USERNAME_MAX: usize = 64;
pub const PASSWORD_MIN: usize = 12;
/// Argon2 cost grows with input; cap it so a login form cannot be used to burn CPU.
pub const PASSWORD_MAX: usize = 256;
pub const TOKEN_NAME_MAX: usize = 64;

/// Usernames: 1–64 of `a-z 0-9 . _ - @`, case-folded so `Alice` and `alice` are one account.
pub fn parse_username(raw: &str) -> Result<String, String> {
    let name = raw.trim().to_lowercase();
    if name.is_empty() {
        return Err("enter a username".into());
    }
    if name.chars().count() > USERNAME_MAX {
        return Err(format!("at most {USERNAME_MAX} characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err("use letters, digits and . _ - @ only".into());
    }
    Ok(name)
}

pub fn check_new_password(password: &str) -> Result<(), String> {
    let length = password.chars().count();
    if length < PASSWORD_MIN {
        return Err(format!("at least {PASSWORD_MIN} characters"));
    }
    if password.len() > PASSWORD_MAX {
        return Err(format!("at most {PASSWORD_MAX} bytes"));
    }
    Ok(())
}

/// Token names: 1–64 printable characters.
pub fn parse_token_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("enter a name".into());
    }
    if name.chars().count() > TOKEN_NAME_MAX {
        return Err(format!("at most {TOKEN_NAME_MAX} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("no control characters".into());
    }
    Ok(name.to_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// Read-only access to the wall, for screens without a person at them.
    Kiosk,
    /// Bearer token for the REST API and deploy markers, with a role.
    Api,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kiosk => "kiosk",
            Self::Api => "api",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "kiosk" => Some(Self::Kiosk),
            "api" => Some(Self::Api),
            _ => None,
        }
    }
}

/// What an API token may reach, narrowing its role: a token for a deploy pipeline need not
/// read the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TokenScope {
    /// Every page and read of the role (dashboards, the wall, the audit log for auditors).
    Read,
    /// Deploy markers: `POST /api/v1/deploys`.
    DeploysWrite,
    /// Acknowledging alerts and creating or expiring silences.
    AlertsWrite,
    /// Everything the role allows.
    Admin,
}

impl TokenScope {
    pub const ALL: [TokenScope; 4] = [
        TokenScope::Read,
        TokenScope::DeploysWrite,
        TokenScope::AlertsWrite,
        TokenScope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::DeploysWrite => "deploys:write",
            Self::AlertsWrite => "alerts:write",
            Self::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw.trim())
    }

    /// Scopes as stored: space-separated, sorted, without repeats.
    pub fn join(scopes: &[TokenScope]) -> String {
        let mut sorted = scopes.to_vec();
        sorted.sort();
        sorted.dedup();
        sorted
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn split(stored: &str) -> Option<Vec<TokenScope>> {
        stored.split_whitespace().map(Self::parse).collect()
    }
}

/// The longest an API token may be made to last.
pub const TOKEN_EXPIRY_MAX_DAYS: i64 = 3_650;

/// The form's expiry: blank is "never", otherwise 1 to 3,650 whole days.
pub fn parse_expiry_days(raw: &str) -> Result<Option<i64>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    match raw.parse::<i64>() {
        Ok(days) if (1..=TOKEN_EXPIRY_MAX_DAYS).contains(&days) => Ok(Some(days)),
        _ => Err(format!(
            "whole days from 1 to {TOKEN_EXPIRY_MAX_DAYS}, or blank for no expiry"
        )),
    }
}

/// An account as stored and as the admin page shows it (the password hash stays on the server).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserAccount {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub must_reset: bool,
    pub disabled: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A kiosk or API token; its secret is never part of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: i64,
    pub kind: TokenKind,
    pub name: String,
    pub role: Role,
    /// Always empty for kiosk tokens, which open only the wall.
    pub scopes: Vec<TokenScope>,
    pub created_by: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// What the database says about everyone a live stream may be open for, read again every
/// second by every replica: a stream whose principal it no longer allows is ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Standings {
    /// By user id: disabled, and when their sessions were last ended (Unix ms).
    pub users: HashMap<i64, (bool, i64)>,
    pub revoked_kiosks: HashSet<i64>,
}

impl Standings {
    /// Whether `principal` may still be served; `since_ms` is when its session began.
    pub fn allows(&self, principal: &Principal, since_ms: Option<i64>) -> bool {
        match principal.kind {
            // A user newer than the last reading was just checked by their request.
            PrincipalKind::User { id, .. } => {
                self.users.get(&id).is_none_or(|(disabled, ended_at)| {
                    !disabled && since_ms.is_none_or(|since| since >= *ended_at)
                })
            }
            PrincipalKind::Kiosk { id } => !self.revoked_kiosks.contains(&id),
            // A token's request is checked as it comes; it holds no session.
            PrincipalKind::ApiToken { .. } => true,
        }
    }
}

/// Where to go after sign-in: only a plain path on this site; anything else goes to the
/// wall. Browsers drop tabs and newlines from URLs, so `/<TAB>/evil.example` would become
/// `//evil.example`, another site: control characters, `//` and backslashes are refused.
pub fn local_path(next: &str) -> &str {
    let plain = next.starts_with('/')
        && !next.starts_with("//")
        && !next.chars().any(|c| c.is_control() || c == '\\');
    if plain { next } else { "/" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_what_the_issue_lists() {
        use Permission::*;
        let table = [
            (Role::Viewer, [true, true, false, false, false]),
            (Role::Operator, [true, true, true, false, false]),
            (Role::Auditor, [true, true, false, true, false]),
            (Role::Admin, [true, true, true, true, true]),
        ];
        for (role, expected) in table {
            let got =
                [ViewWall, ViewDashboards, Operate, ReadAudit, Administer].map(|p| role.allows(p));
            assert_eq!(got, expected, "{role:?}");
        }
    }

    #[test]
    fn a_token_gets_only_what_both_its_role_and_its_creator_allow() {
        for a in Role::ALL {
            for b in Role::ALL {
                let meet = a.meet(b);
                for p in [
                    Permission::ViewWall,
                    Permission::ViewDashboards,
                    Permission::Operate,
                    Permission::ReadAudit,
                    Permission::Administer,
                ] {
                    assert_eq!(
                        meet.allows(p),
                        a.allows(p) && b.allows(p),
                        "{a:?} {b:?} {p:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn scopes_round_trip_and_expiry_is_bounded() {
        let stored =
            TokenScope::join(&[TokenScope::AlertsWrite, TokenScope::Read, TokenScope::Read]);
        assert_eq!(stored, "read alerts:write");
        assert_eq!(
            TokenScope::split(&stored),
            Some(vec![TokenScope::Read, TokenScope::AlertsWrite])
        );
        assert_eq!(TokenScope::split("read write"), None);
        assert_eq!(parse_expiry_days(" "), Ok(None));
        assert_eq!(parse_expiry_days("30"), Ok(Some(30)));
        for bad in ["0", "-1", "3651", "1.5", "soon"] {
            assert!(parse_expiry_days(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kiosk_sees_only_the_wall_and_a_pending_reset_sees_nothing() {
        let kiosk = Principal {
            actor: "kiosk:lobby".into(),
            role: Role::Viewer,
            kind: PrincipalKind::Kiosk { id: 1 },
        };
        assert!(kiosk.allows(Permission::ViewWall));
        assert!(!kiosk.allows(Permission::ViewDashboards));
        let resetting = Principal {
            actor: "ann".into(),
            role: Role::Admin,
            kind: PrincipalKind::User {
                id: 1,
                must_reset: true,
            },
        };
        assert!(!resetting.allows(Permission::ViewWall));
    }

    #[test]
    fn usernames_fold_case_and_refuse_odd_characters() {
        assert_eq!(parse_username(" Alice ").as_deref(), Ok("alice"));
        assert!(parse_username("").is_err());
        assert!(parse_username("a b").is_err());
        assert!(parse_username("x'; DROP TABLE users;--").is_err());
        assert!(parse_username(&"a".repeat(65)).is_err());
    }

    #[test]
    fn passwords_have_a_floor_and_a_ceiling() {
        assert!(check_new_password("short").is_err());
        assert!(check_new_password("correct horse battery").is_ok());
        assert!(check_new_password(&"x".repeat(257)).is_err());
    }

    #[test]
    fn only_plain_paths_on_this_site_are_followed_after_sign_in() {
        assert_eq!(local_path("/alerts?state=firing"), "/alerts?state=firing");
        for away in [
            "//evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\\evil.example",
            "https://evil.example",
            "evil",
            "",
        ] {
            assert_eq!(local_path(away), "/", "{away:?}");
        }
    }

    #[test]
    fn a_stream_ends_once_its_session_was_ended_or_its_kiosk_revoked() {
        let user = Principal {
            actor: "ann".into(),
            role: Role::Viewer,
            kind: PrincipalKind::User {
                id: 1,
                must_reset: false,
            },
        };
        let kiosk = Principal {
            actor: "kiosk:lobby".into(),
            role: Role::Viewer,
            kind: PrincipalKind::Kiosk { id: 9 },
        };
        let mut standings = Standings::default();
        standings.users.insert(1, (false, 1_000));
        assert!(standings.allows(&user, Some(1_000)));
        assert!(
            !standings.allows(&user, Some(999)),
            "begun before the sessions ended"
        );
        assert!(standings.allows(&kiosk, None));
        standings.users.insert(1, (true, 1_000));
        assert!(!standings.allows(&user, Some(2_000)), "disabled");
        standings.revoked_kiosks.insert(9);
        assert!(!standings.allows(&kiosk, None));
        assert!(
            Standings::default().allows(&user, Some(1)),
            "a user newer than the reading"
        );
    }
}
