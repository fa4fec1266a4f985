//! A small unbounded event queue for one receiver: nothing is allocated until an event is
//! queued. A session lives for minutes and sees a handful of events; tokio's unbounded
//! channel reserves a block of 32 slots up front (8 KB per session for `SessionEvent`),
//! which was most of the memory of an established call under load.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::ua::lock;

struct Shared<T> {
    items: Mutex<State<T>>,
    notify: Notify,
    senders: AtomicUsize,
}

struct State<T> {
    /// Boxed, and only while items wait: an idle queue holds 8 B, not an empty VecDeque's 32.
    #[allow(clippy::box_collection)]
    items: Option<Box<VecDeque<T>>>,
    receiver_gone: bool,
}

/// The sending side; cloneable.
pub(crate) struct Tx<T> {
    shared: Arc<Shared<T>>,
}

/// The receiving side.
pub(crate) struct Rx<T> {
    shared: Arc<Shared<T>>,
}

/// A new queue.
pub(crate) fn queue<T>() -> (Tx<T>, Rx<T>) {
    let shared = Arc::new(Shared {
        items: Mutex::new(State {
            items: None,
            receiver_gone: false,
        }),
        notify: Notify::new(),
        senders: AtomicUsize::new(1),
    });
    (
        Tx {
            shared: Arc::clone(&shared),
        },
        Rx { shared },
    )
}

impl<T> Tx<T> {
    /// Queues `item`; gives it back when the receiver is gone.
    pub(crate) fn send(&self, item: T) -> Result<(), T> {
        let mut st = lock(&self.shared.items);
        if st.receiver_gone {
            return Err(item);
        }
        st.items.get_or_insert_with(Box::default).push_back(item);
        drop(st);
        self.shared.notify.notify_one();
        Ok(())
    }
}

impl<T> Clone for Tx<T> {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::AcqRel);
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for Tx<T> {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last sender: wake the receiver so it sees the end.
            self.shared.notify.notify_one();
        }
    }
}

impl<T> Rx<T> {
    /// The next item; `None` once every sender is gone and the queue is empty.
    pub(crate) async fn recv(&mut self) -> Option<T> {
        loop {
            if let Some(item) = self.pop() {
                return Some(item);
            }
            if self.shared.senders.load(Ordering::Acquire) == 0 {
                return self.pop();
            }
            // notify_one keeps a permit when nobody waits, so a send between the check
            // above and this await is not lost.
            self.shared.notify.notified().await;
        }
    }
}

impl<T> Rx<T> {
    /// Takes the first item; frees the buffer once the queue is empty, since an idle
    /// session's queue stays empty for minutes (a buffer of 4 events is ~1 KB per call).
    fn pop(&self) -> Option<T> {
        let mut st = lock(&self.shared.items);
        let items = st.items.as_mut()?;
        let item = items.pop_front();
        if items.is_empty() {
            st.items = None;
        }
        item
    }
}

impl<T> Drop for Rx<T> {
    fn drop(&mut self) {
        let mut st = lock(&self.shared.items);
        st.receiver_gone = true;
        st.items = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn items_in_order_then_the_end() {
        let (tx, mut rx) = queue();
        let tx2 = tx.clone();
        tx.send(1).unwrap();
        tx2.send(2).unwrap();
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.recv().await, Some(2));
        let waiter = tokio::spawn(async move { rx.recv().await });
        tokio::task::yield_now().await;
        tx.send(3).unwrap();
        assert_eq!(waiter.await.unwrap(), Some(3));
        let (tx, mut rx) = queue::<u8>();
        drop(tx);
        assert_eq!(rx.recv().await, None);
        let (tx, rx) = queue::<u8>();
        drop(rx);
        assert_eq!(tx.send(1), Err(1));
    }

    #[tokio::test]
    async fn a_drained_queue_holds_no_buffer() {
        let (tx, mut rx) = queue();
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert_eq!(rx.recv().await, Some(1));
        assert!(lock(&rx.shared.items).items.is_some());
        assert_eq!(rx.recv().await, Some(2));
        assert!(lock(&rx.shared.items).items.is_none());
    }
}
