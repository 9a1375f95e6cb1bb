//! Command-line flags more than one binary takes, declared once: argh has no flatten, so
//! [`args_struct!`](crate::args_struct) writes them into each binary's arguments struct.

/// Declare a binary's argh arguments struct (argh has no flatten). Its body is a sequence of
/// `{ fields }` groups, copied as they are, and named sections of shared flags, each giving the
/// help text of the flags whose wording names the binary:
/// - `limits`: --max-connections (its default given too), --max-request-line, --max-head,
///   --header-timeout, --shutdown-timeout, --idle-timeout;
/// - `tls`: --access-log, --version, --tls-cert, --tls-key;
/// - `threads {}`: --threads, worded the same for every binary;
/// - `readmit`: --readmit, --rise, --fall (read with
///   `balancer::readmit_from_flags`).
///
/// Used by the `server`, `balancer` and `cluster` binaries (paths in it name the `ricochet`
/// crate).
#[macro_export]
macro_rules! args_struct {
    (
        $(#[$($meta:tt)*])*
        struct $name:ident { $($body:tt)* }
    ) => {
        $crate::args_struct!(@munch [$(#[$($meta)*])* struct $name] [] $($body)*);
    };
    (@munch [$($head:tt)*] [$($out:tt)*]) => {
        $($head)* { $($out)* }
    };
    (@munch $head:tt [$($out:tt)*] { $($fields:tt)* } $($rest:tt)*) => {
        $crate::args_struct!(@munch $head [$($out)* $($fields)*] $($rest)*);
    };
    (
        @munch $head:tt [$($out:tt)*]
        limits {
            $(#[$($max_connections:tt)*])*
            max_connections = $default:tt,
            $(#[$($header_timeout:tt)*])*
            header_timeout,
            $(#[$($shutdown_timeout:tt)*])*
            shutdown_timeout,
            $(#[$($idle_timeout:tt)*])*
            idle_timeout,
        }
        $($rest:tt)*
    ) => {
        $crate::args_struct!(@munch $head [$($out)*
            $(#[$($max_connections)*])*
            #[argh(option, default = $default)]
            max_connections: usize,

            /// longest request line accepted, in bytes; longer is 414 (long target) or 400 (default 8192)
            #[argh(option, default = "8192")]
            max_request_line: usize,

            /// largest request head accepted, in bytes; header fields past it are 431 (default 16384)
            #[argh(option, default = "16384")]
            max_head: usize,

            $(#[$($header_timeout)*])*
            #[argh(
                option,
                default = "std::time::Duration::from_secs(10)",
                from_str_fn(ricochet::cli::duration::parse_duration)
            )]
            header_timeout: std::time::Duration,

            $(#[$($shutdown_timeout)*])*
            #[argh(
                option,
                default = "std::time::Duration::from_secs(30)",
                from_str_fn(ricochet::cli::duration::parse_duration)
            )]
            shutdown_timeout: std::time::Duration,

            $(#[$($idle_timeout)*])*
            #[argh(
                option,
                default = "std::time::Duration::from_secs(60)",
                from_str_fn(ricochet::cli::duration::parse_duration)
            )]
            idle_timeout: std::time::Duration,
        ] $($rest)*);
    };
    (
        @munch $head:tt [$($out:tt)*]
        tls {
            $(#[$($access_log:tt)*])*
            access_log,
            $(#[$($tls_cert:tt)*])*
            tls_cert,
        }
        $($rest:tt)*
    ) => {
        $crate::args_struct!(@munch $head [$($out)*
            $(#[$($access_log)*])*
            #[argh(option)]
            access_log: Option<std::path::PathBuf>,

            /// print the name and version, then exit
            #[argh(switch)]
            version: bool,

            $(#[$($tls_cert)*])*
            #[argh(option)]
            tls_cert: Option<std::path::PathBuf>,

            /// the private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1)
            #[argh(option)]
            tls_key: Option<std::path::PathBuf>,
        ] $($rest)*);
    };
    (@munch $head:tt [$($out:tt)*] threads {} $($rest:tt)*) => {
        $crate::args_struct!(@munch $head [$($out)*
            /// executor threads running connections (default 1, or ASYNC_STD_THREAD_COUNT if set):
            /// async-std drives every socket from one reactor, and for small responses one thread
            /// answers fastest; more help when large responses keep a core busy
            #[argh(option)]
            threads: Option<usize>,
        ] $($rest)*);
    };
    (
        @munch $head:tt [$($out:tt)*]
        readmit {
            $(#[$($readmit:tt)*])*
            readmit,
            $(#[$($rise:tt)*])*
            rise,
            $(#[$($fall:tt)*])*
            fall,
        }
        $($rest:tt)*
    ) => {
        $crate::args_struct!(@munch $head [$($out)*
            $(#[$($readmit)*])*
            #[argh(switch)]
            readmit: bool,

            $(#[$($rise)*])*
            #[argh(option)]
            rise: Option<u32>,

            $(#[$($fall)*])*
            #[argh(option)]
            fall: Option<u32>,
        ] $($rest)*);
    };
}
