"""Reading and writing data sets: readers turn users' files into ``Sample``s, writers turn ``Sample``s into the
formats users load (COCO, image folders, WebDataset shards, manifest.jsonl), all writes atomic."""
