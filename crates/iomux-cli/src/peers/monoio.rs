//! An echo server on monoio, a published io_uring runtime (thread-per-core, owned buffers):
//! a task per connection, read then write_all, each an io_uring operation. The completion
//! model's peer, as tokio is the readiness models'.

#[path = "common.rs"]
mod common;
use monoio::buf::IoBuf;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpListener;

fn main() -> std::io::Result<()> {
    let addr = common::addr_from_args(
        "An echo server on monoio's io_uring runtime, for iomux bench echo to compare with.",
    );
    let mut runtime = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(4096)
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(addr)?;
        common::announce(listener.local_addr()?);
        loop {
            let (mut conn, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(_) => continue,
            };
            let _ = conn.set_nodelay(true);
            monoio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let (read, filled) = conn.read(buf).await;
                    buf = filled;
                    let n = match read {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let (written, back) = conn.write_all(buf.slice(..n)).await;
                    buf = back.into_inner();
                    if written.is_err() {
                        return;
                    }
                }
            });
        }
    })
}
