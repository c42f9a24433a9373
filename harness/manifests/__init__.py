"""The stages as data: manifests discovered from the tree, validated, `extends` resolved, and the
diff between two stages."""
