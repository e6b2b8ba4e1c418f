//! The one table that says what every route needs. A path missing from it is refused, so a new
//! endpoint cannot ship without a decision (and the authorization matrix test names it).
use crate::domain::auth::{Permission, TokenScope};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Any person signed in with a session (not a token), even one who must change their
    /// password first.
    SignedIn,
    Need(Permission),
    /// No policy: refused for everyone.
    Unlisted,
}

/// Server functions by path. Keep in step with `tests/authorization.rs`.
pub const SERVER_FUNCTIONS: &[(&str, Access)] = &[
    ("/api/auth/me", Access::Public),
    ("/api/auth/login", Access::Public),
    ("/api/auth/logout", Access::SignedIn),
    ("/api/auth/password", Access::SignedIn),
    ("/api/auth/sign_out_everywhere", Access::SignedIn),
    ("/api/fleet/overview", Access::Need(Permission::ViewWall)),
    (
        "/api/servers/detail",
        Access::Need(Permission::ViewDashboards),
    ),
    (
        "/api/targets/list",
        Access::Need(Permission::ViewDashboards),
    ),
    ("/api/targets/get", Access::Need(Permission::ViewDashboards)),
    (
        "/api/targets/offers",
        Access::Need(Permission::ViewDashboards),
    ),
    (
        "/api/targets/sources",
        Access::Need(Permission::ViewDashboards),
    ),
    ("/api/targets/add", Access::Need(Permission::Administer)),
    ("/api/targets/update", Access::Need(Permission::Administer)),
    ("/api/targets/remove", Access::Need(Permission::Administer)),
    ("/api/checks/list", Access::Need(Permission::ViewDashboards)),
    ("/api/checks/add", Access::Need(Permission::Administer)),
    ("/api/checks/remove", Access::Need(Permission::Administer)),
    ("/api/demo/list", Access::Need(Permission::ViewDashboards)),
    ("/api/demo/fault", Access::Need(Permission::Operate)),
    ("/api/users/list", Access::Need(Permission::Administer)),
    ("/api/users/add", Access::Need(Permission::Administer)),
    ("/api/users/update", Access::Need(Permission::Administer)),
    ("/api/users/reset", Access::Need(Permission::Administer)),
    ("/api/users/sign_out", Access::Need(Permission::Administer)),
    ("/api/tokens/list", Access::Need(Permission::Administer)),
    ("/api/tokens/create", Access::Need(Permission::Administer)),
    ("/api/tokens/revoke", Access::Need(Permission::Administer)),
    ("/api/audit/search", Access::Need(Permission::ReadAudit)),
    ("/api/audit/entry", Access::Need(Permission::ReadAudit)),
    ("/api/audit/verify", Access::Need(Permission::ReadAudit)),
    ("/api/alerts/list", Access::Need(Permission::ViewDashboards)),
    ("/api/alerts/wall", Access::Need(Permission::ViewWall)),
    (
        "/api/alerts/detail",
        Access::Need(Permission::ViewDashboards),
    ),
    ("/api/alerts/acknowledge", Access::Need(Permission::Operate)),
    ("/api/rules/list", Access::Need(Permission::ViewDashboards)),
    ("/api/rules/save", Access::Need(Permission::Operate)),
    ("/api/rules/delete", Access::Need(Permission::Operate)),
    ("/api/rules/learn", Access::Need(Permission::Operate)),
    (
        "/api/silences/list",
        Access::Need(Permission::ViewDashboards),
    ),
    ("/api/silences/create", Access::Need(Permission::Operate)),
    ("/api/silences/expire", Access::Need(Permission::Operate)),
    ("/api/channels/list", Access::Need(Permission::Operate)),
    ("/api/channels/create", Access::Need(Permission::Administer)),
    ("/api/channels/delete", Access::Need(Permission::Administer)),
    ("/api/channels/test", Access::Need(Permission::Operate)),
    ("/api/deploys/create", Access::Need(Permission::Operate)),
    (
        "/api/deploys/review",
        Access::Need(Permission::ViewDashboards),
    ),
    (
        "/api/runbooks/list",
        Access::Need(Permission::ViewDashboards),
    ),
    (
        "/api/runbooks/get",
        Access::Need(Permission::ViewDashboards),
    ),
    (
        "/api/incidents/list",
        Access::Need(Permission::ViewDashboards),
    ),
    (
        "/api/incidents/get",
        Access::Need(Permission::ViewDashboards),
    ),
    ("/api/incidents/declare", Access::Need(Permission::Operate)),
    ("/api/incidents/step", Access::Need(Permission::Operate)),
    ("/api/incidents/note", Access::Need(Permission::Operate)),
    ("/api/incidents/advance", Access::Need(Permission::Operate)),
    ("/api/incidents/resolve", Access::Need(Permission::Operate)),
    ("/api/incidents/role", Access::Need(Permission::Operate)),
    ("/api/incidents/severity", Access::Need(Permission::Operate)),
    ("/api/incidents/reopen", Access::Need(Permission::Operate)),
    ("/api/incidents/update", Access::Need(Permission::Operate)),
    (
        "/api/incidents/action-items",
        Access::Need(Permission::ViewDashboards),
    ),
    (
        "/api/incidents/action-items/add",
        Access::Need(Permission::Operate),
    ),
    (
        "/api/incidents/action-items/close",
        Access::Need(Permission::Operate),
    ),
    (
        "/api/readiness/get",
        Access::Need(Permission::ViewDashboards),
    ),
    (
        "/api/readiness/fleet",
        Access::Need(Permission::ViewDashboards),
    ),
    ("/api/readiness/tick", Access::Need(Permission::Operate)),
    ("/api/oncall/summaries", Access::Need(Permission::ViewWall)),
    (
        "/api/oncall/schedule",
        Access::Need(Permission::ViewDashboards),
    ),
    ("/api/oncall/create", Access::Need(Permission::Operate)),
    ("/api/oncall/delete", Access::Need(Permission::Operate)),
    ("/api/oncall/layer/add", Access::Need(Permission::Operate)),
    (
        "/api/oncall/layer/delete",
        Access::Need(Permission::Operate),
    ),
    (
        "/api/oncall/override/add",
        Access::Need(Permission::Operate),
    ),
    (
        "/api/oncall/override/delete",
        Access::Need(Permission::Operate),
    ),
    // A person's own calendar feed secret: people only, not tokens.
    ("/api/oncall/feed", Access::SignedIn),
    ("/api/oncall/feed/new", Access::SignedIn),
    ("/api/oncall/feed/revoke", Access::SignedIn),
    // A person's own contact methods.
    ("/api/paging/contacts", Access::SignedIn),
    ("/api/paging/contacts/add", Access::SignedIn),
    ("/api/paging/contacts/delete", Access::SignedIn),
    ("/api/paging/contacts/test", Access::SignedIn),
    (
        "/api/paging/policies",
        Access::Need(Permission::ViewDashboards),
    ),
    (
        "/api/paging/policies/create",
        Access::Need(Permission::Operate),
    ),
    (
        "/api/paging/policies/delete",
        Access::Need(Permission::Operate),
    ),
    ("/api/backups/get", Access::Need(Permission::Administer)),
    ("/api/backups/start", Access::Need(Permission::Administer)),
    (
        "/api/backups/health",
        Access::Need(Permission::ViewDashboards),
    ),
    (
        "/api/capacity/get",
        Access::Need(Permission::ViewDashboards),
    ),
    // What-if inputs are each person's own.
    (
        "/api/capacity/save",
        Access::Need(Permission::ViewDashboards),
    ),
    // REST, for deploy pipelines with an API token.
    ("/api/v1/deploys", Access::Need(Permission::Operate)),
];

/// Writes an API token may make without the `admin` scope, and the scope each needs. Every
/// other write needs `admin`; reads need `read`.
const TOKEN_WRITES: &[(&str, TokenScope)] = &[
    ("/api/v1/deploys", TokenScope::DeploysWrite),
    ("/api/deploys/create", TokenScope::DeploysWrite),
    ("/api/alerts/acknowledge", TokenScope::AlertsWrite),
    ("/api/silences/create", TokenScope::AlertsWrite),
    ("/api/silences/expire", TokenScope::AlertsWrite),
    // Open to every viewer, but it stores something.
    ("/api/capacity/save", TokenScope::Admin),
];

/// Whether an API token's scopes reach `path`; its role is checked apart, so a scope only
/// ever narrows.
pub fn token_scopes_allow(scopes: &[TokenScope], path: &str, access: Access) -> bool {
    if scopes.contains(&TokenScope::Admin) {
        return true;
    }
    if let Some((_, scope)) = TOKEN_WRITES.iter().find(|(p, _)| *p == path) {
        return scopes.contains(scope);
    }
    let read = matches!(
        access,
        Access::Public
            | Access::Need(
                Permission::ViewWall | Permission::ViewDashboards | Permission::ReadAudit
            )
    );
    read && scopes.contains(&TokenScope::Read)
}

/// Plain axum routes (not pages, not server functions).
pub const ROUTES: &[(&str, Access)] = &[
    ("/health/live", Access::Public),
    ("/health/ready", Access::Public),
    // mcpops' own request metrics, for the Prometheus that watches mcpops; no fleet data.
    ("/metrics", Access::Public),
    ("/events", Access::Need(Permission::ViewWall)),
    // The wall's fleet charts, so a kiosk screen shows them too (first match wins).
    ("/charts/fleet/", Access::Need(Permission::ViewWall)),
    ("/charts/", Access::Need(Permission::ViewDashboards)),
    ("/audit/export", Access::Need(Permission::ReadAudit)),
    // Post-incident reports: `/reports/incident-{id}.md` and `.html`.
    ("/reports/", Access::Need(Permission::ViewDashboards)),
    // On-call calendar feeds: the URL carries the reader's own feed secret, checked there.
    ("/calendar/", Access::Public),
];

/// Pages by path prefix; the longest match wins. Any other page needs `ViewDashboards`.
const PAGES: &[(&str, Access)] = &[
    ("/login", Access::Public),
    ("/account/password", Access::SignedIn),
    ("/wall", Access::Need(Permission::ViewWall)),
    ("/audit", Access::Need(Permission::ReadAudit)),
    ("/admin/users", Access::Need(Permission::Administer)),
    ("/admin/tokens", Access::Need(Permission::Administer)),
    ("/admin/backups", Access::Need(Permission::Administer)),
    ("/alerts/channels", Access::Need(Permission::Operate)),
];

/// Whether a path is a page (answered with a redirect to the login form) rather than an API.
pub fn is_page(path: &str) -> bool {
    !path.starts_with("/api/") && !ROUTES.iter().any(|(p, _)| route_matches(p, path))
}

pub fn access(path: &str) -> Access {
    if path.starts_with("/api/") {
        return SERVER_FUNCTIONS
            .iter()
            .find(|(p, _)| *p == path)
            .map_or(Access::Unlisted, |(_, a)| *a);
    }
    if let Some((_, access)) = ROUTES.iter().find(|(p, _)| route_matches(p, path)) {
        return *access;
    }
    if is_static_file(path) {
        return Access::Public;
    }
    PAGES
        .iter()
        .filter(|(prefix, _)| page_matches(prefix, path))
        .max_by_key(|(prefix, _)| prefix.len())
        .map_or(Access::Need(Permission::ViewDashboards), |(_, a)| *a)
}

fn route_matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('/') {
        Some(prefix) => path.starts_with(prefix) && path.len() > prefix.len(),
        None => path == pattern,
    }
}

fn page_matches(prefix: &str, path: &str) -> bool {
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The compiled site: `/pkg/…` and files at the root such as `/favicon.svg`.
fn is_static_file(path: &str) -> bool {
    path.starts_with("/pkg/")
        || path
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains('.') && path.matches('/').count() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_endpoints_are_refused_and_pages_default_to_dashboards() {
        assert_eq!(access("/api/nope"), Access::Unlisted);
        assert_eq!(access("/fleet"), Access::Need(Permission::ViewDashboards));
        assert_eq!(access("/wall"), Access::Need(Permission::ViewWall));
        assert_eq!(access("/audit"), Access::Need(Permission::ReadAudit));
        assert_eq!(access("/auditx"), Access::Need(Permission::ViewDashboards));
        assert_eq!(access("/audit/export"), Access::Need(Permission::ReadAudit));
        assert_eq!(access("/admin"), Access::Need(Permission::ViewDashboards));
        assert_eq!(access("/admin/users"), Access::Need(Permission::Administer));
        assert_eq!(
            access("/charts/1/latency.svg"),
            Access::Need(Permission::ViewDashboards)
        );
        assert_eq!(
            access("/charts/fleet/latency.svg"),
            Access::Need(Permission::ViewWall)
        );
        assert_eq!(access("/pkg/mcpops.js"), Access::Public);
        assert_eq!(access("/favicon.svg"), Access::Public);
        assert_eq!(
            access("/targets/1.svg"),
            Access::Need(Permission::ViewDashboards)
        );
        assert!(is_page("/fleet") && !is_page("/events") && !is_page("/api/auth/me"));
    }

    #[test]
    fn token_scopes_narrow_to_reads_or_named_writes() {
        use TokenScope::*;
        let allow =
            |scopes: &[TokenScope], path: &str| token_scopes_allow(scopes, path, access(path));
        assert!(allow(&[Read], "/api/targets/list"));
        assert!(
            allow(&[Read], "/api/audit/search"),
            "the role decides the audit log"
        );
        assert!(!allow(&[Read], "/api/v1/deploys"));
        assert!(!allow(&[Read], "/api/capacity/save"));
        assert!(!allow(&[Read], "/api/incidents/declare"));
        assert!(allow(&[DeploysWrite], "/api/v1/deploys"));
        assert!(!allow(&[DeploysWrite], "/api/targets/list"));
        assert!(allow(&[AlertsWrite], "/api/alerts/acknowledge"));
        assert!(!allow(&[AlertsWrite], "/api/v1/deploys"));
        assert!(allow(&[Admin], "/api/targets/add"));
        assert!(!allow(&[], "/api/targets/list"));
        // Every named write is a real endpoint.
        for (path, _) in TOKEN_WRITES {
            assert_ne!(access(path), Access::Unlisted, "{path}");
        }
    }
}
