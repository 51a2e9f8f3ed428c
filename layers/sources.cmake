target_sources(berth_layers PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/content/store.cc
  ${CMAKE_CURRENT_LIST_DIR}/image/reference.cc
)
target_sources(berth_layers PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/extract/fs_writer.cc
  ${CMAKE_CURRENT_LIST_DIR}/extract/unpack.cc
)
target_sources(berth_layers PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/snapshot/layer_store.cc
)
target_sources(berth_layers PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/image/oci.cc
)
target_sources(berth_layers PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/image/store.cc
)
target_sources(berth_layers PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/image/service.cc
  ${CMAKE_CURRENT_LIST_DIR}/image/load.cc
)
target_sources(berth_layers PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/image/save.cc
)
target_sources(berth_layers PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/image/import.cc
)
target_sources(berth_layers PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/snapshot/diff.cc
)
target_sources(berth_layers PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/image/commit.cc
)
target_sources(berth_layers PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/image/transfer.cc
  ${CMAKE_CURRENT_LIST_DIR}/registry/auth.cc
  ${CMAKE_CURRENT_LIST_DIR}/registry/client.cc
  ${CMAKE_CURRENT_LIST_DIR}/registry/pull.cc
  ${CMAKE_CURRENT_LIST_DIR}/registry/push.cc
)
