"""Pure renderers of channel-neutral content for one channel: RBM JSON, SMS text."""
